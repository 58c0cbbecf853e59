// The vocabulary of one placement: what is known about an invocation before
// it runs (Features), the tier chosen for it and why (Decision, Reason), and
// what came of a run (Outcome). The Scheduler (scheduler.h) takes and
// returns these; the gateway fills them in.
//
// Plain values: no synchronization, copy freely.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "scheduler/tier.h"

namespace stoa::scheduler {

// What is known about an invocation before it runs.
struct Features {
  uint64_t request_bytes = 0;
  uint32_t batch = 1;
  // Tiers whose executor already has this function version loaded (as far
  // as the gateway knows); on the others a cold start is to be expected.
  TierSet warm;
  // Per tier (TierIndex): the gateway's own calls in flight there, and the
  // queue depth that tier's executor last reported.
  std::array<uint32_t, kNumTiers> in_flight{};
  std::array<uint32_t, kNumTiers> queue_depth{};
  // Per tier: how far past due (ms) the most overdue of the gateway's calls
  // in flight there is, 0 when none is (gateway/tier_monitor.h says when a
  // call is due). A call that has outlived its prediction is evidence that
  // the tier slowed before any answer says so; the model adds it to the
  // tier's prediction (latency_model.h).
  std::array<double, kNumTiers> overdue_ms{};
};

// Why a tier runs a request; rendered in X-Stoa-Reason and metric labels.
enum class Reason : uint8_t {
  kPredictedBest,  // the policy's model picked it
  kPolicy,         // a fixed rule (edge_only, cloud_only, round_robin)
  kForced,         // ?tier= on the request
  kFailover,       // the chosen tier failed or its circuit is open
  kExplore,        // probing a tier not used lately
  kHedge,          // too close to call: run on `tier` and `hedge`, first wins
  kShadow,         // a shadow run (Decision::shadow): measured, never answers
  kBackup,         // the chosen tier was late (Decision::backup): also run here, first wins
};
inline constexpr int kNumReasons = 8;
constexpr int ReasonIndex(Reason r) { return static_cast<int>(r); }
// "predicted-best", "policy", "forced", "failover", "explore", "hedge",
// "shadow", "backup".
std::string_view ReasonName(Reason r);

// The reasons of placements: counted per function × tier in
// stoa_placements_total and the scheduler's state. A shadow run is no
// placement (the request was placed elsewhere), so kShadow is not one; nor
// is kBackup (the gateway starts it when the placement ran late).
inline constexpr int kNumPlacementReasons = 6;
inline constexpr std::array<Reason, kNumPlacementReasons> kPlacementReasons = {
    Reason::kPredictedBest, Reason::kPolicy,  Reason::kForced,
    Reason::kFailover,      Reason::kExplore, Reason::kHedge};

struct Decision {
  Decision() = default;
  Decision(Tier t, Reason r, double predicted = 0.0)
      : tier(t), reason(r), predicted_ms(predicted) {}

  Tier tier = Tier::kEdge;
  Reason reason = Reason::kPolicy;
  // The model's predicted end-to-end latency on `tier`, in ms (0 if unknown).
  double predicted_ms = 0.0;
  // Reason kHedge: the second tier to run the same request on.
  TierSet hedge;
  // An evidence hedge (policy evidence_hedge): neither run is withdrawn
  // when the other answers, so both are measured (the hedge's tier was
  // found much faster and its run is the check). The gateway copies it into
  // the hedge run's own Decision{t, kHedge} (whose `hedge` is empty):
  // IsEvidenceRun.
  bool keep_hedge = false;
  // A late backup (policy late_hedge): when the chosen tier has not
  // answered backup_after_ms after the request started, the gateway also
  // runs it on the tier in `backup` (a Decision{t, kBackup}); the first
  // answer wins, and the late run still finishes and is observed, so the
  // model learns how late it was. Empty: no backup.
  TierSet backup;
  double backup_after_ms = 0.0;
  // Shadow measurement (policy shadow_rate): also run on these tiers, only
  // to learn and to measure placement accuracy; their answers are dropped.
  // Each such run is reported to Observe with a Decision{t, kShadow} and
  // Outcome::shadow set.
  TierSet shadow;
  // Set by a scheduler that records a DecisionTrace (decision_trace.h): the
  // decision's id there, 0 otherwise. The caller copies it into the
  // Decisions of the request's other runs (hedge, shadow) so their outcomes
  // are traced against it (RunDecision).
  uint64_t trace_id = 0;

  // Makes `t` this decision's hedge (reason kHedge; `keep`: keep_hedge),
  // in place of a shadow or a late backup it had.
  void HedgeOn(Tier t, bool keep) {
    hedge.Add(t);
    shadow.Remove(t);
    reason = Reason::kHedge;
    keep_hedge = keep;
    backup = {};
    backup_after_ms = 0.0;
  }
};
// The Decision the request's run on `t` is observed with: `request` itself
// on its own tier; else Decision{t, kHedge} for its hedge (with its
// keep_hedge) or Decision{t, kShadow}, traced against it.
Decision RunDecision(const Decision& request, Tier t);

// What happened, as the gateway saw it.
struct Outcome {
  Tier tier = Tier::kEdge;
  bool ok = true;
  // Did the failure say the tier itself is unhealthy (unreachable, timed
  // out), as opposed to a bad request that would fail anywhere?
  bool tier_failure = false;
  double latency_ms = 0.0;  // end to end, measured by the gateway
  double server_ms = 0.0;   // queue + load + exec as reported by the executor
  double load_ms = 0.0;     // cold start part, 0 when the function was warm
  double queue_ms = 0.0;    // executor-reported queue wait
  double exec_ms = 0.0;     // executor-reported execution time (0: unknown)
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  uint32_t batch = 1;
  // Requests ahead of this one when it was sent: the tier's reported queue
  // depth + the gateway's in-flight calls there (Features at decision time).
  uint32_t ahead = 0;
  // A shadow run (Decision::shadow; its decision's reason is kShadow): it
  // teaches the model and feeds ObserveComparison, but is no placement. The
  // runs of a hedge are not shadow runs: each run that completes is
  // observed as usual; one cancelled because the other answered first is
  // not observed at all (its latency is censored).
  bool shadow = false;
};

// Whether Observe got a shadow run: either field says so (the two agree
// when the caller follows the contract above).
constexpr bool IsShadowRun(const Decision& decision, const Outcome& outcome) {
  return outcome.shadow || decision.reason == Reason::kShadow;
}
// Whether a run is the hedge run of an evidence hedge (Decision::
// keep_hedge): observed as a probe of its tier, as the shadow it replaces.
constexpr bool IsEvidenceRun(const Decision& decision) {
  return decision.reason == Reason::kHedge && decision.keep_hedge && decision.hedge.Empty();
}

}  // namespace stoa::scheduler
