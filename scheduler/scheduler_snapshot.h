// A point-in-time copy of what a Scheduler knows, for presentation
// (GET /v1/scheduler/state renders it, gateway/scheduler_state_json.h).
// Plain data: no JSON, no references into the scheduler; taken without
// stopping Decide, so counters of different functions may be a few
// decisions apart.
//
// Doubles that are not known yet are NaN (the renderer writes null).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/circuit_breaker.h"
#include "scheduler/decision.h"
#include "scheduler/latency_model.h"
#include "scheduler/policy_config.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

// One tier, shared by every function.
struct TierSnapshot {
  CircuitState circuit = CircuitState::kClosed;
  int consecutive_failures = 0;
  bool in_process = false;  // reached without a network: no net term
  // Smoothed probe round trip (Scheduler::ObserveLink); NaN: no probe yet.
  double link_rtt_ms = std::numeric_limits<double>::quiet_NaN();
};

// One function on one tier.
struct FunctionTierSnapshot {
  // The prediction of the last decision for this function (NaN: none yet).
  double predicted_ms = std::numeric_limits<double>::quiet_NaN();
  // For a cold call of the last request size on an idle tier, by the
  // function's objective; `measured` false while nothing was observed.
  Prediction prediction;
  // What the model learned: observations, recent latencies, term
  // parameters and one-step errors.
  LatencyModel::Snapshot model;
  // Placements here by reason (ReasonIndex; only kPlacementReasons count).
  std::array<uint64_t, kNumReasons> decisions{};
};

// Placement accuracy from shadow comparisons (Scheduler::ObserveComparison).
struct AccuracySnapshot {
  uint64_t comparisons = 0;
  uint64_t correct = 0;  // comparisons whose chosen tier was the fastest
  double regret_ms = 0.0;
};

struct FunctionSnapshot {
  std::string name;
  std::optional<PolicyConfig> policy_override;  // nullopt: the global policy
  AccuracySnapshot accuracy;
  std::array<FunctionTierSnapshot, kNumTiers> tiers;  // by TierIndex
};

struct SchedulerSnapshot {
  PolicyConfig policy;                        // the global policy
  std::array<TierSnapshot, kNumTiers> tiers;  // by TierIndex
  std::vector<FunctionSnapshot> functions;    // every function seen, by name
};

}  // namespace stoa::scheduler
