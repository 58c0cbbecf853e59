// DecisionTrace: a record of every placement decision, its features and
// predictions, and what came of it, for offline replay (`stoa replay`,
// scheduler/trace_replay.h) and for debugging a placement after the fact.
//
// Format: JSON lines, one event per line, each with "ev" and "t_us" (the
// scheduler's clock):
//   start     {"seed", "in_process": [tiers], "policy": {PolicyToJson}}
//             written first in every file (again after a rotation);
//   decision  {"id", "fn", "policy", "bytes", "batch", "warm", "allowed",
//             "available", "explorable", "tiers": {tier: {"measured",
//             "mean_ms", "p95_ms", "unc_ms", "terms": {net, queue, cold,
//             exec: [mean, p95]}, "link_rtt_ms", "queue_depth",
//             "in_flight", "overdue_ms", "late_ms" (the last two only
//             when > 0)}}, "tier", "reason", "hedge", "shadow", and
//             "backup", "backup_after_ms" when the decision has a late
//             backup (Decision::backup; its run, if started, is an outcome
//             with reason "backup")};
//   outcome   {"id" (0: not from a traced decision, e.g. ?tier=), "fn",
//             "tier", "reason", "shadow", "ok", "tier_failure",
//             "latency_ms", "server_ms", "load_ms", "queue_ms", "exec_ms",
//             "bytes", "resp_bytes", "batch", "ahead"};
//   link      {"tier", "ok", "rtt_ms"}: a status probe (ObserveLink);
//   quota     {"tier", "cores"}: a probe reported another CPU quota
//             (ObserveCpuQuota; 0: none);
//   throttle  {"tier", "throttled", "used_cores"}: a probe's
//             cpu_throttled and cpu_used_cores turned the tier saturated
//             or ended that, or the throttling crossed 0.2 either way
//             (ObserveCpuThrottle; TierSignals).
// Non-finite numbers are written as null.
//
// Rotation: when a write takes the file past `max_bytes` (0: never), the
// file is renamed to FILE.1 (replacing an older one) and a new FILE is
// started with a start event; at most 2 × max_bytes are kept.
//
// Errors: Open fails (NOT_FOUND / PERMISSION_DENIED / INTERNAL naming the
// path) when the file cannot be created; a failed write or rotation later
// is logged once and counted (WriteErrors), and tracing stops — the
// gateway keeps serving.
//
// Thread safety: every method may be called concurrently (one mutex around
// formatting-free writes; the line is built before the lock). Events from
// concurrent calls are written whole, in the order they take the lock.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/decision.h"
#include "scheduler/placement_policy.h"
#include "scheduler/policy_config.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

class DecisionTrace {
 public:
  static absl::StatusOr<std::unique_ptr<DecisionTrace>> Open(const std::string& path,
                                                             uint64_t max_bytes);
  ~DecisionTrace();
  DecisionTrace(const DecisionTrace&) = delete;
  DecisionTrace& operator=(const DecisionTrace&) = delete;

  // A fresh decision id (never 0).
  uint64_t NextId();

  // What a replay needs to rebuild the scheduler (repeated after rotation).
  void RecordStart(uint64_t seed, TierSet in_process, int64_t now_us,
                   const PolicyConfig& policy = {});
  // `link_rtt_ms[TierIndex(t)]`: the probed round trip the model used.
  void RecordDecision(int64_t now_us, std::string_view function, const PolicyConfig& config,
                      const PolicyInput& in, const std::array<double, kNumTiers>& link_rtt_ms,
                      const Decision& decision);
  void RecordOutcome(int64_t now_us, std::string_view function, const Decision& decision,
                     const Outcome& outcome);
  void RecordLink(int64_t now_us, Tier tier, bool ok, double rtt_ms);
  // A tier's reported CPU quota changed to `cores` (0: none).
  void RecordQuota(int64_t now_us, Tier tier, double cores);
  // A probe's cpu_throttled (`throttled`) turned the tier saturated or
  // ended that, or crossed 0.2 (TierSignals::ObserveCpuThrottle).
  void RecordThrottle(int64_t now_us, Tier tier, double throttled, double used_cores);

  uint64_t Lines() const;
  uint64_t Rotations() const;
  uint64_t WriteErrors() const;
  void Flush();

 private:
  DecisionTrace(std::string path, uint64_t max_bytes, std::FILE* file);
  void Write(std::string line);
  bool RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const uint64_t max_bytes_;
  std::atomic<uint64_t> next_id_{1};
  mutable absl::Mutex mu_;
  std::FILE* file_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t lines_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rotations_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::string start_line_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::scheduler
