#include "authz/key_ring.h"

namespace kabar::authz {

std::shared_ptr<const std::vector<VerificationKey>> KeyRing::keys() const {
  std::lock_guard lock(mutex_);
  return keys_;
}

void KeyRing::replace(std::vector<VerificationKey> keys) {
  auto fresh = std::make_shared<const std::vector<VerificationKey>>(std::move(keys));
  std::lock_guard lock(mutex_);
  keys_ = std::move(fresh);
}

void KeyRing::set_unknown_kid_listener(std::function<void(const std::string& kid)> listener) {
  std::lock_guard lock(mutex_);
  listener_ = std::move(listener);
}

// Under the lock, so a listener being cleared (its owner stopping) is never called afterwards.
void KeyRing::report_unknown_kid(const std::string& kid) const {
  std::lock_guard lock(mutex_);
  if (listener_) listener_(kid);
}

}  // namespace kabar::authz
