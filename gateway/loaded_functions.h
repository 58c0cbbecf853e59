// LoadedFunctions: what this gateway knows of each function version on
// each tier: whether the tier's executor has it loaded (a call there is
// warm) and the counts shown by GET /v1/functions/{name} (invocations,
// failures, cold starts, mean latency).
//
// Versions are keyed "name@sha256" (Key()). The set is the gateway's
// belief, not the executor's truth: an executor that restarted answers
// NOT_FOUND, and the invocation marks the version unloaded and pushes it
// again.
//
// Thread safety: every method may be called concurrently (one reader/writer
// lock; the hot path takes it shared for IsLoaded/WarmTiers).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/tier.h"

namespace stoa::gateway {

// Per function version and tier, what this gateway has seen.
struct TierStats {
  bool configured = false;
  bool loaded = false;  // the current version is known loaded there
  uint64_t invocations = 0;
  uint64_t failures = 0;
  uint64_t cold_starts = 0;
  double mean_latency_ms = 0.0;  // of successful invocations
};
using FunctionStats = std::array<TierStats, scheduler::kNumTiers>;

class LoadedFunctions {
 public:
  static std::string Key(const std::string& function, const std::string& sha256);

  bool IsLoaded(scheduler::Tier tier, const std::string& key) const;
  // The tiers of `among` where `key` is known loaded.
  scheduler::TierSet WarmTiers(const std::string& key, scheduler::TierSet among) const;
  void SetLoaded(scheduler::Tier tier, const std::string& key, bool loaded);

  void RecordColdStart(scheduler::Tier tier, const std::string& key);
  void RecordSuccess(scheduler::Tier tier, const std::string& key, double latency_ms);
  void RecordFailure(scheduler::Tier tier, const std::string& key);

  // Stats of one version (`configured` left false: the caller knows).
  FunctionStats Stats(const std::string& key) const;
  // Drops `function` at `sha256` ("" = every version): loaded marks and
  // stats.
  void Forget(const std::string& function, const std::string& sha256);

 private:
  mutable absl::Mutex mu_;
  std::array<absl::flat_hash_set<std::string>, scheduler::kNumTiers> loaded_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, FunctionStats> stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::gateway
