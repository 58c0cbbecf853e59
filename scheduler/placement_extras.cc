// PlacementScheduler's extra runs of a decision: the hedge, the late
// backup, random shadows and the shadows (or evidence hedges) of stale
// tiers (placement_scheduler.h).
#include <algorithm>
#include <cmath>
#include <optional>

#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {

void PlacementScheduler::AddHedge(Exploration& exploration, const PolicyConfig& config,
                                  const PolicyInput& in, int64_t now, Decision& decision) {
  if (decision.reason != Reason::kPredictedBest) return;
  // A saturated choice (its executor's group starved by other processes:
  // its runs take whatever slices they get, 20-600 ms), or one between
  // tiers not yet warmed up (kWarmUpRuns) when either has a CPU quota, is
  // hedged on the runner-up, both runs kept: an evidence hedge.
  const bool evidence = config.evidence_hedge && UsesModel(config.policy);
  const bool saturated = evidence && signals_.Saturated(decision.tier);
  const int64_t open_us = int64_t{config.circuit.open_ms} * 1000;
  const Prediction& best = in.predictions[TierIndex(decision.tier)];
  std::optional<Tier> pick;
  bool keep = false;
  for (Tier t : AllTiers()) {
    if (t == decision.tier || !in.available.Contains(t)) continue;
    const Prediction& other = in.predictions[TierIndex(t)];
    if (!other.measured) continue;
    const double gap = std::fabs(other.ms - best.ms);
    const bool close = config.hedge && gap < std::hypot(best.uncertainty_ms, other.uncertainty_ms);
    const bool limited = signals_.CpuQuota(decision.tier) > 0.0 || signals_.CpuQuota(t) > 0.0;
    const bool warming =
        evidence && limited && std::min(best.observations, other.observations) < kWarmUpRuns;
    if (!(close || saturated || warming)) continue;
    if (!pick || other.ms < in.predictions[TierIndex(*pick)].ms) {
      pick = t;
      keep = saturated || warming;
    }
  }
  if (!pick || !circuits_[TierIndex(*pick)].TryAdmit(now, open_us)) return;
  decision.HedgeOn(*pick, keep);
  exploration.Sent(*pick, now);
}

void PlacementScheduler::AddBackup(const PolicyConfig& config, const PolicyInput& in,
                                   Decision& decision) {
  if (!config.late_hedge || !decision.hedge.Empty()) return;
  if (decision.reason != Reason::kPredictedBest && decision.reason != Reason::kExplore) return;
  const Prediction& chosen = in.predictions[TierIndex(decision.tier)];
  if (!chosen.measured) return;
  std::optional<Tier> runner_up;
  for (Tier t : AllTiers()) {
    if (t == decision.tier || !in.available.Contains(t)) continue;
    const Prediction& other = in.predictions[TierIndex(t)];
    if (!other.measured) continue;
    if (!runner_up || other.ms < in.predictions[TierIndex(*runner_up)].ms) runner_up = t;
  }
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
