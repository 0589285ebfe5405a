// The one translation unit that compiles Asio and Beast (BOOST_*_SEPARATE_COMPILATION is set on every
// target that links kabar_asio), which keeps the build lean on small machines.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared first.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
