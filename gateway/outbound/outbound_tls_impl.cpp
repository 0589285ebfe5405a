// Asio's TLS part, compiled once (BOOST_ASIO_SEPARATE_COMPILATION; the rest of Asio is in
// gateway/asio_impl.cpp). Only kabar_outbound speaks TLS.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared first.
#include <boost/asio/ssl/impl/src.hpp>
