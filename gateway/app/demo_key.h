#pragma once
#include <string>

namespace kabar {

// The development JWT key of `kabar demo`: <data_dir>/demo/jwt.secret, 64 random hex characters made on
// the first run (mode 0600) and kept, so the demo's tokens survive a restart. Returns its path. Throws
// std::runtime_error when the folder cannot be written.
std::string ensure_demo_key(const std::string& data_dir);

// The HS256 signing material of that key file (checked as any JWT secret file is). Throws on a bad file.
std::string read_demo_key(const std::string& path);

}  // namespace kabar
