// Offline replay of a DecisionTrace (decision_trace.h): what a policy would
// have decided on the requests, links and outcomes of a recorded run, and
// how well, so an operator can compare policies before switching
// (`stoa replay FILE --policy P`).
//
// Replay rebuilds a PlacementScheduler (fake clock, the trace's seed and
// in-process tiers) under the given policy and feeds it the trace in order:
// every link probe (ObserveLink), every decision's features (Decide), and
// outcomes. An outcome recorded for a tier the replayed decision also ran
// (its tier, hedge or shadow) is fed as recorded; a run of the replay that
// the live run did not make gets a modelled outcome — the live model's
// per-term prediction for that tier at that decision — when the live
// request's answer comes back. So a replay of the policy that ran, with its
// seed, makes the live decisions again (`agree`), as far as concurrency in
// the live gateway kept the order of events.
//
// Scoring, per decision: each allowed tier's latency is the recorded one
// when a run of that request on that tier succeeded (the live choice, a
// hedge, a shadow sample), else the live model's predicted mean for it
// (`modelled`). A decision is correct when its tier's latency is the lowest
// of them; regret is the difference. Decisions with fewer than two known
// latencies are not scored. Scoring against the live model favours the
// live policy (it chose by that model); the decisions where every tier was
// sampled (shadow_rate, stale shadows) give the unbiased figure, printed
// as "accuracy (sampled)".
//
// Thread safety: none needed (plain functions over plain values).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/decision.h"
#include "scheduler/latency_model.h"
#include "scheduler/policy_config.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

struct TraceEvent {
  enum class Kind { kDecision, kOutcome, kLink, kQuota, kThrottle };
  Kind kind = Kind::kDecision;
  int64_t t_us = 0;
  uint64_t id = 0;
  std::string function;
  // kDecision: the features, the live predictions and choice.
  Features features;
  TierSet allowed, available;
  std::array<Prediction, kNumTiers> predictions{};
  Decision decision;
  // kOutcome: what came back (decision.reason and .tier as recorded).
  Outcome outcome;
  // kLink (and kQuota's and kThrottle's tier).
  Tier tier = Tier::kEdge;
  bool link_ok = true;
  double rtt_ms = 0.0;
  // kQuota: the CPU quota a status probe reported, cores (0: none).
  double cpu_quota_cores = 0.0;
  // kThrottle: the cpu_throttled that changed the tier's saturated state.
  double cpu_throttled = 0.0;
  double cpu_used_cores = 0.0;
};

struct Trace {
  uint64_t seed = 0;
  TierSet in_process;
  PolicyConfig policy;  // the global policy of the recorded run
  std::vector<TraceEvent> events;
};

// Parses JSON lines (several files' texts may be concatenated, e.g.
// FILE.1 then FILE). INVALID_ARGUMENT naming the line for a malformed one.
// A start event that lists the run's targets installs them as the
// process's TargetTable (tier.h), so the trace's target names resolve: call
// it before other threads read Targets() (the `stoa replay` tool does).
absl::StatusOr<Trace> ParseTrace(const std::string& text);
// Reads and parses `paths` in order (NOT_FOUND naming an unreadable one).
absl::StatusOr<Trace> LoadTrace(const std::vector<std::string>& paths);

struct ReplayScore {
  std::string policy;
  uint64_t decisions = 0;
  uint64_t scored = 0;
  uint64_t correct = 0;
  double regret_ms = 0.0;     // summed over scored decisions
  double latency_ms = 0.0;    // chosen tier's latency, summed over scored
  double best_ms = 0.0;       // fastest tier's latency, summed over scored
  uint64_t from_samples = 0;  // scored decisions whose tier's latency was recorded
  uint64_t modelled = 0;      // ... predicted by the live model
  uint64_t agree = 0;         // same tier as the live decision
  // Decisions where every allowed tier's latency was recorded (shadow
  // samples): accuracy there needs no model, so it is unbiased.
  uint64_t all_sampled = 0;
  uint64_t all_sampled_correct = 0;
  uint64_t unavailable = 0;  // Decide refused (every tier's circuit open)
  std::array<uint64_t, kNumTiers> placed{};

  double Accuracy() const { return scored ? double(correct) / double(scored) : 0.0; }
  double RegretPct() const { return best_ms > 0 ? 100.0 * (latency_ms / best_ms - 1.0) : 0.0; }
};

// The live decisions of the trace, scored the same way.
ReplayScore ScoreLive(const Trace& trace);
// Replays the trace through `policy`, seeded with `seed` (the trace's own
// seed when nullopt).
ReplayScore Replay(const Trace& trace, const PolicyConfig& policy,
                   std::optional<uint64_t> seed = std::nullopt);
// A markdown table, one row per score.
std::string FormatScores(const std::vector<ReplayScore>& scores);

}  // namespace stoa::scheduler
