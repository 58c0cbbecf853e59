// FakePolicyStore: a PolicyStore that only stores (no scheduler behind
// it), for testing what reads and writes policies (the REST API) without a
// PlacementScheduler. It also counts the writes.
//
// Thread safety: every method may be called concurrently (one mutex).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/policy_store.h"

namespace stoa::scheduler {

class FakePolicyStore final : public PolicyStore {
 public:
  explicit FakePolicyStore(const PolicyConfig& policy = {}) : policy_(policy) {}

  void SetPolicy(const PolicyConfig& policy) override;
  PolicyConfig GetPolicy() const override;
  void SetFunctionPolicy(std::string_view function, const PolicyConfig& policy) override;
  void ClearFunctionPolicy(std::string_view function) override;
  std::optional<PolicyConfig> GetFunctionPolicy(std::string_view function) const override;

  // Set* and Clear* calls so far.
  int writes() const;

 private:
  mutable absl::Mutex mu_;
  PolicyConfig policy_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, PolicyConfig> overrides_ ABSL_GUARDED_BY(mu_);
  int writes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stoa::scheduler
