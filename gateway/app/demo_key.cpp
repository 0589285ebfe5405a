#include "gateway/app/demo_key.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "authz/token.h"

namespace kabar {

std::string ensure_demo_key(const std::string& data_dir) {
  const std::filesystem::path folder = std::filesystem::path(data_dir) / "demo";
  const std::filesystem::path file = folder / "jwt.secret";
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) throw std::runtime_error("cannot create " + folder.string() + ": " + error.message());
  if (std::filesystem::exists(file)) return file.string();
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw std::runtime_error("no random bytes for the demo key");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string secret;
  for (const unsigned char byte : bytes) {
    secret += kHex[byte >> 4];
    secret += kHex[byte & 15];
  }
  secret += '\n';
  const std::string temporary = file.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + temporary + ": " + std::strerror(errno));
  const bool written = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size());
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), file.c_str()) != 0)
    throw std::runtime_error("cannot write " + file.string() + ": " + std::strerror(errno));
  return file.string();
}

std::string read_demo_key(const std::string& path) {
  return authz::hmac_key(authz::read_key_file(path, "demo JWT secret file"), "demo JWT secret file " + path).material;
}

}  // namespace kabar
