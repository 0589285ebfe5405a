#include "gateway/http/write_now.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>

namespace kabar {

std::size_t send_now(boost::asio::ip::tcp::socket& socket, const ConstBuffers& buffers) {
  std::array<iovec, 64> iov;  // a StreamSession writes at most 64 frames at once
  if (buffers.size() > iov.size() || !socket.is_open()) return 0;
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    iov[i].iov_base = const_cast<void*>(buffers[i].data());
    iov[i].iov_len = buffers[i].size();
  }
  msghdr message{};
  message.msg_iov = iov.data();
  message.msg_iovlen = buffers.size();
  ssize_t n;
  do {
    n = ::sendmsg(socket.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

ConstBuffers remaining(const ConstBuffers& buffers, std::size_t sent) {
  ConstBuffers rest;
  for (const auto& buffer : buffers) {
    if (sent >= buffer.size()) {
      sent -= buffer.size();
      continue;
    }
    rest.push_back(buffer + sent);
    sent = 0;
  }
  return rest;
}

}  // namespace kabar
