// PlacementScheduler's extra runs of a decision: the hedge, the late
// backup, random shadows and the shadows (or evidence hedges) of stale
// tiers (placement_scheduler.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {
namespace {

// The available, measured tier other than `chosen` with the lowest
// prediction among those `accept` takes (the first in AllTiers order on a
// tie); nullopt when none.
template <typename Accept>
std::optional<Tier> RunnerUp(const PolicyInput& in, Tier chosen, Accept accept) {
  std::optional<Tier> pick;
  for (Tier t : AllTiers()) {
    if (t == chosen || !in.available.Contains(t)) continue;
    const Prediction& other = in.predictions[TierIndex(t)];
    if (!other.measured || !accept(t)) continue;
    if (!pick || other.ms < in.predictions[TierIndex(*pick)].ms) pick = t;
  }
  return pick;
}

}  // namespace

void PlacementScheduler::AddHedge(Exploration& exploration, const PolicyConfig& config,
                                  const PolicyInput& in, int64_t now, Decision& decision) {
  if (decision.reason != Reason::kPredictedBest) return;
  // A saturated choice (its executor's group starved by other processes:
  // its runs take whatever slices they get, 20-600 ms), or one between
  // tiers not yet warmed up (kWarmUpRuns) when either has a CPU quota, is
  // hedged on the runner-up, both runs kept: an evidence hedge.
  const bool evidence = config.evidence_hedge && UsesModel(config.policy);
  // A choice of a tier whose executor reported a quota kQuotaStep times
  // lower within the last second is hedged the same way: its terms are
  // from before the cut until a far-late run of it shows the cut
  // (quota-flips QS1: a 20x cut reported at 29.81 s; three requests went
  // to the edge at 30.35-30.53 s, predicted 6-39 ms, answered in 33-131,
  // while the cloud answered in 37-40).
  const bool cut = evidence && signals_.SentAfterSlowerEvidence(decision.tier, now);
  const bool saturated = evidence && signals_.Saturated(decision.tier);
  const Prediction& best = in.predictions[TierIndex(decision.tier)];
  auto close = [&](Tier t) {
    const Prediction& other = in.predictions[TierIndex(t)];
    return config.hedge &&
           std::fabs(other.ms - best.ms) < std::hypot(best.uncertainty_ms, other.uncertainty_ms);
  };
  auto warming = [&](Tier t) {
    const bool limited = signals_.CpuQuota(decision.tier) > 0.0 || signals_.CpuQuota(t) > 0.0;
    return evidence && limited &&
           std::min(best.observations, in.predictions[TierIndex(t)].observations) < kWarmUpRuns;
  };
  // A runner-up in a saturated spell whose last probe came back near its
  // link's floor (TierSignals::ProbedBack: perhaps the spell's end, or a
  // lucky slice) is hedged on too; the first answer wins and the other run
  // is withdrawn (a queued edge run does not hold up the next ones).
  auto back = [&](Tier t) { return evidence && signals_.ProbedBack(t); };
  // A choice of a tier its own runs hold to its CPU quota (TierSignals::
  // QuotaBound) is predicted from runs that may have been lucky slices: if
  // the predicted execution at the quota's pace (exec / quota cores) is
  // slower than the runner-up, the runner-up is hedged on, both runs kept
  // (quota-flips QC2, 0.02-core edge: five full-speed runs in a row took
  // its exec term from 42 to 2.9 ms; of the six requests sent there at
  // 64.8-66.4 s three waited for their late backups, 25-36 ms, while the
  // cloud answered in 13-15).
  const double quota = signals_.CpuQuota(decision.tier);
  const bool bound = evidence && quota > 0.0 && signals_.QuotaBound(decision.tier, now);
  const double paced_ms = bound ? best.terms[TermIndex(Term::kExec)].mean_ms / quota
                                : std::numeric_limits<double>::infinity();
  auto held = [&](Tier t) { return bound && in.predictions[TierIndex(t)].ms < paced_ms; };
  const std::optional<Tier> pick = RunnerUp(in, decision.tier, [&](Tier t) {
    return close(t) || saturated || cut || warming(t) || back(t) || held(t);
  });
  const int64_t open_us = int64_t{config.circuit.open_ms} * 1000;
  if (!pick || !circuits_[TierIndex(*pick)].TryAdmit(now, open_us)) return;
  decision.HedgeOn(*pick, saturated || cut || warming(*pick) || held(*pick));
  exploration.Sent(*pick, now);
}

void PlacementScheduler::AddBackup(const PolicyConfig& config, const PolicyInput& in,
                                   Decision& decision) {
  if (!config.late_hedge || !decision.hedge.Empty()) return;
  if (decision.reason != Reason::kPredictedBest && decision.reason != Reason::kExplore) return;
  const Prediction& chosen = in.predictions[TierIndex(decision.tier)];
  if (!chosen.measured) return;
  const std::optional<Tier> runner_up = RunnerUp(in, decision.tier, [](Tier) { return true; });
  if (!runner_up) return;
  decision.backup = TierSet::Of(*runner_up);
  decision.backup_after_ms = FarLateMs(chosen.ms);
}

void PlacementScheduler::AddShadow(const PolicyConfig& config, const PolicyInput& in,
                                   Decision& decision) {
  if (config.shadow_rate <= 0.0 || rng_.Uniform() >= config.shadow_rate) return;
  for (Tier t : AllTiers()) {
    if (t != decision.tier && !decision.hedge.Contains(t) && in.available.Contains(t)) {
      decision.shadow.Add(t);
    }
  }
}

void PlacementScheduler::AddStaleShadows(Exploration& exploration, const PolicyConfig& config,
                                         const PolicyInput& in, double best_ms, int64_t now,
                                         Decision& decision) {
  const std::array<int64_t, kNumTiers> faster_since = signals_.FasterSince();
  TierSet routine, evidence;
  const TierSet stale = exploration.StaleShadows(config.explore_budget, config.shadow_cap,
                                                 in.available, decision.tier, in.predictions,
                                                 best_ms, now, &faster_since, &routine, &evidence);
  for (Tier t : AllTiers()) {
    if (!stale.Contains(t) || decision.hedge.Contains(t)) continue;
    // A tier its executor reported much faster within the last second: the
    // same extra run, but its answer may be the request's (an evidence
    // hedge; both runs are kept). Probe RTT drops and lucky fast runs stay
    // shadows: a throttled executor's probes and runs are bimodal, and
    // hedging on them (QF1) ran half the slow phases' requests twice.
    if (config.evidence_hedge && evidence.Contains(t) && signals_.SentAfterEvidence(t, now) &&
        decision.hedge.Empty() && decision.reason == Reason::kPredictedBest) {
      decision.HedgeOn(t, true);
    } else {
      decision.shadow.Add(t);
    }
    exploration.ShadowSent(t, now, routine.Contains(t));
  }
}

}  // namespace stoa::scheduler
