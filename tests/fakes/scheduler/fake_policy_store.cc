#include "tests/fakes/scheduler/fake_policy_store.h"

namespace stoa::scheduler {

void FakePolicyStore::SetPolicy(const PolicyConfig& policy) {
  absl::MutexLock lock(&mu_);
  policy_ = policy;
  ++writes_;
}

PolicyConfig FakePolicyStore::GetPolicy() const {
  absl::MutexLock lock(&mu_);
  return policy_;
}

void FakePolicyStore::SetFunctionPolicy(std::string_view function, const PolicyConfig& policy) {
  absl::MutexLock lock(&mu_);
  overrides_[std::string(function)] = policy;
  ++writes_;
}

void FakePolicyStore::ClearFunctionPolicy(std::string_view function) {
  absl::MutexLock lock(&mu_);
  overrides_.erase(std::string(function));
  ++writes_;
}

std::optional<PolicyConfig> FakePolicyStore::GetFunctionPolicy(std::string_view function) const {
  absl::MutexLock lock(&mu_);
  auto it = overrides_.find(std::string(function));
  if (it == overrides_.end()) return std::nullopt;
  return it->second;
}

int FakePolicyStore::writes() const {
  absl::MutexLock lock(&mu_);
  return writes_;
}

}  // namespace stoa::scheduler
