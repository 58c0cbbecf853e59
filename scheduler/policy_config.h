// The placement policy document of DESIGN.md § Scheduler, shared by
// GET/PUT /v1/policy and the YAML policy file:
//   {"policy":"predictive","objective":"mean","slo_ms":0,"shadow_rate":0.0,
//    "explore_budget":0.02,"stale_probe":"shadow","shadow_cap":0.1,"hedge":false,
//    "late_hedge":true,"evidence_hedge":true,
//    "weights":{"latency":1,"cost":0,"energy":0},
//    "circuit":{"failures":5,"open_ms":2000}}
// Fields left out keep their defaults. Unknown fields, wrong types and
// out-of-range values are INVALID_ARGUMENT naming the field and the
// allowed values.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

enum class PolicyKind { kPredictive, kEdgeOnly, kCloudOnly, kRoundRobin, kRandom, kSlo, kWeighted };
// Policies that decide by the model (and so need it fresh).
inline bool UsesModel(PolicyKind kind) {
  return kind == PolicyKind::kPredictive || kind == PolicyKind::kSlo ||
         kind == PolicyKind::kWeighted;
}
enum class Objective { kMean, kP95 };
// How a tier whose estimate went stale is probed: kShadow runs a copy of a
// request there besides the chosen tier (no latency cost; the answer is
// dropped); kRoute sends the request itself there (reason explore).
enum class StaleProbe { kShadow, kRoute };

struct PolicyConfig {
  PolicyKind policy = PolicyKind::kPredictive;
  Objective objective = Objective::kMean;
  double slo_ms = 0.0;           // >= 0; 0 = none
  double shadow_rate = 0.0;      // [0, 1]
  double explore_budget = 0.02;  // [0, 1]
  StaleProbe stale_probe = StaleProbe::kShadow;
  // The most routine stale shadow probes may take, as a share of the
  // function's decisions (follow-ups after a detected change are outside
  // it); [0, 1], 1 = no cap beyond the probe interval. See exploration.h.
  double shadow_cap = 0.1;
  bool hedge = false;
  // A backup run on the runner-up when the chosen tier has not answered by
  // FarLateMs(its prediction) (Decision::backup; model-based policies, i.e.
  // predictive, slo and weighted, on a predicted-best or explore choice).
  bool late_hedge = true;
  // With stale_probe shadow: the check of a tier its executor reported much
  // faster within the last second (TierSignals::SentAfterEvidence: a quota
  // raised, a saturated spell's end), due as Exploration::StaleShadows'
  // evidence, is run as a hedge that answers if first, not as a shadow
  // whose answer is dropped (Decision::keep_hedge): the same extra run, and
  // the request no longer waits for the tier that just lost its lead.
  // Checks on a probe's RTT drop or a fast run alone stay shadows. And a
  // choice its executor reports saturated (TierSignals::Saturated) is
  // hedged on the runner-up the same way: a starved tier answers in
  // whatever time slices it gets.
  bool evidence_hedge = true;
  double smoothing = 0.2;  // EWMA weight of a new observation, (0, 1]
  struct Weights {
    double latency = 1.0, cost = 0.0, energy = 0.0;  // each >= 0
  } weights;
  struct Circuit {
    int failures = 5;    // consecutive tier failures that open it, >= 1
    int open_ms = 2000;  // how long it stays open before a probe, >= 1
  } circuit;
};

std::string_view PolicyKindName(PolicyKind k);

// Parses a JSON policy document (the body of PUT /v1/policy).
absl::StatusOr<PolicyConfig> ParsePolicyJson(std::string_view json);
// Parses the same document written as YAML (the --policy-file).
absl::StatusOr<PolicyConfig> ParsePolicyYaml(std::string_view yaml);
// The full document, every field present.
std::string PolicyToJson(const PolicyConfig& policy);

// Per-tier figures written "edge=0,cloud=1.5" (the gateway's --tier-cost
// and --tier-energy flags): each named tier's value replaces its entry in
// `values` (indexed by TierIndex); tiers left out keep theirs.
// INVALID_ARGUMENT naming `what` for an unknown tier, a malformed or
// negative number, or a tier named twice.
absl::Status ParseTierValues(std::string_view text, std::string_view what,
                             std::array<double, kNumTiers>& values);

}  // namespace stoa::scheduler
