// Exploration keeps, for one function, what the scheduler needs to decide
// which tiers may be probed (DESIGN.md § Scheduler: "probes tiers it has
// not used lately, bounded budget"):
//
//   stale probes  a tier neither sent a request nor observed (shadow runs
//                 count) for kStaleUs may be probed, within a two-sided
//                 budget: probes stay within explore_budget of the
//                 function's decisions, and their predicted cost (the probed
//                 tier's predicted mean − the best tier's) within
//                 explore_budget of the best tier's predicted latency summed
//                 over its decisions. A tier known to be much slower is thus
//                 probed rarely (76 ms worse while the best takes 17 ms: once
//                 per ~220 decisions at budget 0.02), one nearly as fast
//                 often; exploration adds at most ~explore_budget to mean
//                 latency.
//   slowdowns     a run of the tier's own traffic (not a probe) that comes
//                 back much slower than predicted (> 20 % + 5 ms) owes the
//                 tier one follow-up: if the decisions move away (the term
//                 reset to the slow sample), the next one runs a shadow copy
//                 there at once instead of after the stale interval, so a
//                 stall of two or three requests (a busy host) costs one
//                 extra run, not half a second on the other tier; a real
//                 slowdown is confirmed by the same run. At most one owed.
//                 The decisions move away at the first slow answer
//                 (LatencyModel holds its latency until the next answer),
//                 so that shadow run may meet the same stall: a shadow
//                 that comes back much slower than predicted owes one more,
//                 up to kSlowChecks in a row after such a stall; then the
//                 stale interval. Only after a stall of the tier's own
//                 traffic: a tier already unchosen (a throttled edge whose
//                 answers alternate between 4 and 100 ms) is not re-checked
//                 on every decision.
//   follow-ups    a probe that finds the tier much faster than predicted, or
//                 that is the tier's first measurement and competitive (warm
//                 latency within twice the best other tier's prediction, so
//                 its regressions see more than one request size), earns
//                 kFollowUps more probes there at once, outside the routine
//                 budget: a change costs at most that many extra probes. Any
//                 decision for the tier pays one off.
//   stale shadows with stale_probe shadow (the default), a measured tier is
//                 refreshed by a shadow run (a copy of the request runs there
//                 too; its answer is dropped, so it costs no latency) once
//                 it has been neither sent to nor observed for its probe
//                 interval, kStaleUs × (1 + its predicted loss / the best
//                 tier's latency), at most kMaxShadowIntervalUs: a tier that
//                 could be nearly as fast is refreshed every 250 ms, one
//                 predicted 3× slower every second. Follow-ups are then
//                 shadow runs too, on the next decision. Routine stale
//                 probes (below) are not made. The routine ones (not
//                 follow-ups) are capped at `shadow_cap` of the function's
//                 decisions: at a low request rate the interval alone would
//                 put a shadow on nearly every request (at 2 req/s and a
//                 250 ms interval, every one), doubling the runs; with the
//                 cap (default 0.1) a stale tier is refreshed at most once
//                 per 1 / shadow_cap decisions, however slowly they come.
//   first probe   a tier never measured is tried once: while that request
//                 is out (up to kStaleUs) it is first_pending, and the
//                 policies keep further requests off it.
//
// The caller (PlacementScheduler) asks FirstPending and Explorable before a
// policy chooses, then reports what happened: Sent for every run it starts,
// Decided for the decision, Observed for every successful outcome, and
// Probed for the outcome of a probe.
//
// Thread safety: lock-free (relaxed atomics); every method may be called
// concurrently. Concurrent decisions may together overshoot the budget by
// the number of threads deciding at once.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>

#include "scheduler/decision.h"
#include "scheduler/latency_model.h"
#include "scheduler/streaming_stats.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

class Exploration {
 public:
  // A tier not sent to nor observed for this long may be probed.
  static constexpr int64_t kStaleUs = 250'000;
  // Probes owed to a tier after a probe found it changed (see above).
  static constexpr int kFollowUps = 3;
  // Shadow runs in a row that re-check a tier found much slower (above).
  static constexpr int kSlowChecks = 3;
  // The longest a measured tier goes without a shadow probe.
  static constexpr int64_t kMaxShadowIntervalUs = 1'000'000;

  using Predictions = std::array<Prediction, kNumTiers>;

  Exploration() = default;
  Exploration(const Exploration&) = delete;
  Exploration& operator=(const Exploration&) = delete;

  // The lowest predicted mean among the `available` measured tiers, the
  // yardstick of the cost budget; 0 when none is measured.
  static double BestMeanMs(TierSet available, const Predictions& predictions);

  // Unmeasured tiers among `allowed` sent a request less than kStaleUs ago:
  // their first measurement is still on its way.
  TierSet FirstPending(TierSet allowed, const Predictions& predictions, int64_t now_us) const;
  // Tiers among `available` that may be probed now: those owed follow-ups,
  // and, while both budgets allow, the stale ones (a stale unmeasured tier
  // costs nothing). Empty when `explore_budget` <= 0. `best_ms`:
  // BestMeanMs of the same decision.
  TierSet Explorable(double explore_budget, TierSet available, const Predictions& predictions,
                     double best_ms, int64_t now_us) const;

  // A run of the function starts on `tier` (the decision's or a hedge's).
  void Sent(Tier tier, int64_t now_us);

  // Stale-shadow mode: measured tiers among `available` other than
  // `chosen` to run a shadow copy on now — those owed follow-ups, and, while
  // the routine shadows so far + 1 stay within `shadow_cap` × (decisions +
  // 1), those neither sent to nor observed for ShadowIntervalUs. Empty when
  // `explore_budget` <= 0.
  // `faster_since_us` (per tier, may be null): when a status probe last
  // showed the tier much faster (LinkTracker::Observe); a tier neither sent
  // to nor observed since is due now, whatever its interval: within the
  // cap when it has room, else outside it (not counted; at most once per
  // kStaleUs): its estimate predates the change, and the cap must not delay
  // the return to a tier that recovered.
  // `routine` (may be null) gets the tiers named under the cap;
  // `evidence` (may be null) those named because they were found much
  // faster (owed follow-ups, or changed since their last use), which the
  // scheduler may run as an evidence hedge (PolicyConfig::evidence_hedge).
  TierSet StaleShadows(double explore_budget, double shadow_cap, TierSet available, Tier chosen,
                       const Predictions& predictions, double best_ms, int64_t now_us,
                       const std::array<int64_t, kNumTiers>* faster_since_us = nullptr,
                       TierSet* routine = nullptr, TierSet* evidence = nullptr) const;
  // kStaleUs × (1 + max(0, p.mean_ms − best_ms) / best_ms), at most
  // kMaxShadowIntervalUs (kStaleUs when best_ms <= 0).
  static int64_t ShadowIntervalUs(const Prediction& p, double best_ms);
  // A shadow probe starts on `tier`: Sent, and pays off a follow-up owed
  // (else, when `routine`, counts towards shadow_cap).
  void ShadowSent(Tier tier, int64_t now_us, bool routine = true);
  // Routine stale shadows sent so far.
  uint64_t RoutineShadows() const { return shadows_.load(std::memory_order_relaxed); }
  // One decision for `tier` with `reason`: counts it towards the budgets
  // (with `best_ms` as above), pays off a follow-up owed to the tier, and
  // charges a routine probe (reason explore, no follow-up owed) its
  // predicted cost from `predicted`, the tier's prediction. Also Sent.
  void Decided(Tier tier, Reason reason, const Prediction& predicted, double best_ms,
               int64_t now_us);
  // A successful outcome came back from `tier`, shadow runs included;
  // `sent_us` is when its run was sent (the outcome's latency before now): it
  // shows the tier as it was from then on, so a run sent before a probe
  // found the tier much faster (TierSignals::FasterSince) and answered after
  // it is no evidence of the change (load-flips testbed: a shadow sent to
  // the starved cloud 0.3 s before its load ended came back 30 ms after the
  // probe that saw the end and hid it; 8 requests queued on the edge).
  void Observed(Tier tier, int64_t sent_us);
  // The successful outcome of a probe (reason explore, not a shadow run) on
  // `tier`: `errors` the model's one-step errors for it, `first` whether it
  // was the tier's first measurement, `others_ms` the lowest last
  // prediction of the other tiers (infinity: none). Earns kFollowUps
  // follow-ups when the probe found the tier changed and none are owed,
  // unless `lucky`: the tier is in a saturated spell (TierSignals), where a
  // fast run is a time slice's luck and its end comes from the executor's
  // report or kLongFastRun fast runs in a row; follow-ups there put three
  // more runs on the starved tier at once (load-flips LE1: 60 % of the
  // loaded phases' decisions shadowed the saturated cloud, and a burst at
  // 79.1 s met the three follow-ups of one lucky 63 ms shadow there; the
  // request sent there next answered in 641 ms).
  void Probed(Tier tier, const Outcome& outcome, const TermErrors& errors, bool first,
              double others_ms, bool lucky = false);
  // The same for a shadow probe (stale-shadow mode), which also owes the
  // tier a re-check when it came back much slower than predicted, up to
  // kSlowChecks in a row after a stall Served saw (see slowdowns above).
  void ShadowProbed(Tier tier, const Outcome& outcome, const TermErrors& errors, bool first,
                    double others_ms, bool lucky = false);

  // A successful run of `tier`'s own traffic (not a probe nor a shadow run)
  // with the model's one-step `errors`: one follow-up is owed when it came
  // back much slower than predicted and none is owed yet, and the
  // kSlowChecks re-checks are opened (see above).
  void Served(Tier tier, const Outcome& outcome, const TermErrors& errors);

  // Follow-up probes still owed to `tier`.
  int FollowUps(Tier tier) const;

 private:
  // What sending a request to a tier predicted at `p` is expected to cost
  // over the best tier.
  static double ProbeCostMs(const Prediction& p, double best_ms);

  struct PerTier {
    std::atomic<int64_t> last_used_us{std::numeric_limits<int64_t>::min() / 2};
    std::atomic<int64_t> last_observed_us{std::numeric_limits<int64_t>::min() / 2};
    std::atomic<int> follow_ups{0};
    // Re-checks still open after a stall of the tier's own traffic (Served).
    std::atomic<int> rechecks_left{0};
  };
  std::array<PerTier, kNumTiers> tiers_;
  std::atomic<uint64_t> decisions_{0};
  std::atomic<uint64_t> explores_{0};  // routine probes, follow-ups excluded
  std::atomic<uint64_t> shadows_{0};   // routine stale shadows, follow-ups excluded
  // The cost budget: the predicted extra latency of the probes made, and
  // the best tier's predicted latency summed over decisions.
  AtomicSum explore_cost_ms_;
  AtomicSum best_ms_sum_;
};

}  // namespace stoa::scheduler
