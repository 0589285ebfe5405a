#pragma once
// write_now(): the fast path of a gathered write, shared by the WebSocket and SSE transports
// (docs/architecture.md "Hot path"). The bytes are offered to the socket at once (one sendmsg,
// MSG_DONTWAIT). When the kernel takes them all, which is the rule for a reader that keeps up, `done`
// runs right there: no Asio operation, no handler posted, no reference count touched. Whatever is left
// (a full socket buffer) goes to `async(rest, done)`, and so does everything after an error (the
// asynchronous write meets the error again and reports it). At most kMaxInlineDepth writes complete
// nested in each other (a completion that starts the next write); deeper ones go the asynchronous way,
// so a long queue never deepens the stack. Callers must allow `done` to run before this returns.
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <utility>
#include <vector>

namespace kabar {

using ConstBuffers = std::vector<boost::asio::const_buffer>;

// One sendmsg of as much as the socket takes now (at most 64 buffers); 0 on EAGAIN or any error.
std::size_t send_now(boost::asio::ip::tcp::socket& socket, const ConstBuffers& buffers);
// `buffers` without their first `sent` bytes.
ConstBuffers remaining(const ConstBuffers& buffers, std::size_t sent);

inline constexpr std::uint8_t kMaxInlineDepth = 4;

// `depth`: the transport's count of writes completing inside write_now() right now.
template <class Done, class Async>
void write_now(boost::asio::ip::tcp::socket& socket, const ConstBuffers& buffers, std::uint8_t& depth, Done&& done,
               Async&& async) {
  if (depth < kMaxInlineDepth) {
    const std::size_t sent = send_now(socket, buffers);
    if (sent == boost::asio::buffer_size(buffers)) {
      ++depth;
      done(boost::system::error_code{});
      --depth;
      return;
    }
    if (sent > 0) {
      async(remaining(buffers, sent), std::forward<Done>(done));
      return;
    }
  }
  async(buffers, std::forward<Done>(done));
}

}  // namespace kabar
