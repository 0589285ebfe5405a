// SHA-1 and base64 come from OpenSSL, which kabar already links for its signatures: no hand-written
// hash to get wrong.
#include "gateway/websocket/handshake.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace kabar::websocket {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 1.3
constexpr std::size_t kSha1Bytes = 20;
constexpr std::size_t kKeyChars = 24;  // base64 of 16 bytes: 22 characters and "=="

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

std::string accept_key(std::string_view client_key) {
  std::string input;
  input.reserve(client_key.size() + kGuid.size());
  input.append(client_key).append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_size, EVP_sha1(), nullptr) != 1 ||
      digest_size != kSha1Bytes) {
    throw std::runtime_error("SHA-1 is not available from OpenSSL");  // cannot happen with a sane libcrypto
  }
  unsigned char encoded[(kSha1Bytes + 2) / 3 * 4 + 1];  // EVP_EncodeBlock writes a trailing NUL
  const int length = EVP_EncodeBlock(encoded, digest, static_cast<int>(kSha1Bytes));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
}

bool is_valid_client_key(std::string_view client_key) {
  if (client_key.size() != kKeyChars || !client_key.ends_with("==")) return false;
  // The unused low bits of the 22nd character are not checked: the key is only hashed, never decoded,
  // so a client whose encoder leaves them set loses nothing by being accepted.
  for (char c : client_key.substr(0, kKeyChars - 2)) {
    if (!is_base64_char(c)) return false;
  }
  return true;
}

}  // namespace kabar::websocket
