// PlacementScheduler as the PolicyStore (policy_store.h): the global policy
// and the per-function overrides, each kept with the placement strategy made
// from it (ActivePolicy), and the policy a function's decision uses
// (placement_scheduler.h).
#include <memory>
#include <optional>
#include <string>

#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {

std::shared_ptr<const PlacementScheduler::ActivePolicy> PlacementScheduler::MakeActive(
    const PolicyConfig& policy) const {
  auto active = std::make_shared<ActivePolicy>();
  active->config = policy;
  active->strategy = MakePlacementPolicy(policy, options_.figures);
  return active;
}

void PlacementScheduler::SetPolicy(const PolicyConfig& policy) {
  std::atomic_store(&policy_, MakeActive(policy));
}

PolicyConfig PlacementScheduler::GetPolicy() const { return std::atomic_load(&policy_)->config; }

void PlacementScheduler::SetFunctionPolicy(std::string_view function, const PolicyConfig& policy) {
  auto active = MakeActive(policy);
  Shard& shard = ShardFor(function);
  absl::MutexLock lock(&shard.mu);
  shard.overrides[std::string(function)] = std::move(active);
}

void PlacementScheduler::ClearFunctionPolicy(std::string_view function) {
  Shard& shard = ShardFor(function);
  absl::MutexLock lock(&shard.mu);
  shard.overrides.erase(absl::string_view(function.data(), function.size()));
}

std::optional<PolicyConfig> PlacementScheduler::GetFunctionPolicy(std::string_view function) const {
  Shard& shard = ShardFor(function);
  absl::ReaderMutexLock lock(&shard.mu);
  auto it = shard.overrides.find(absl::string_view(function.data(), function.size()));
  if (it == shard.overrides.end()) return std::nullopt;
  return it->second->config;
}

std::shared_ptr<const PlacementScheduler::ActivePolicy> PlacementScheduler::PolicyFor(
    std::string_view function) const {
  Shard& shard = ShardFor(function);
  {
    absl::ReaderMutexLock lock(&shard.mu);
    if (!shard.overrides.empty()) {
      auto it = shard.overrides.find(absl::string_view(function.data(), function.size()));
      if (it != shard.overrides.end()) return it->second;
    }
  }
  return std::atomic_load(&policy_);
}

}  // namespace stoa::scheduler
