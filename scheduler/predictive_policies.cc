#include "scheduler/predictive_policies.h"

#include <limits>
#include <optional>

namespace stoa::scheduler {
namespace {

// An unmeasured tier to try, unless its first request is already on its way.
std::optional<Tier> FirstUnmeasured(const PolicyInput& in) {
  for (Tier t : AllTiers()) {
    if (in.available.Contains(t) && !in.predictions[TierIndex(t)].measured &&
        !in.first_pending.Contains(t)) {
      return t;
    }
  }
  return std::nullopt;
}

// The allowed, measured tier with the lowest score; the first allowed tier
// when none is measured.
template <typename Score>
Tier Lowest(const PolicyInput& in, Score score) {
  std::optional<Tier> best;
  double best_score = std::numeric_limits<double>::infinity();
  for (Tier t : AllTiers()) {
    if (!in.allowed.Contains(t) || !in.predictions[TierIndex(t)].measured) continue;
    double s = score(t);
    if (!best || s < best_score) {
      best = t;
      best_score = s;
    }
  }
  if (best) return *best;
  for (Tier t : AllTiers()) {
    if (in.allowed.Contains(t)) return t;
  }
  return AllTiers()[0];
}

Choice MaybeExplore(const PolicyInput& in, Choice choice) {
  for (Tier t : AllTiers()) {
    if (t != choice.tier && in.available.Contains(t) && in.explorable.Contains(t)) {
      return {t, Reason::kExplore};
    }
  }
  return choice;
}

Choice Fastest(const PolicyInput& in) {
  if (auto t = FirstUnmeasured(in)) return {*t, Reason::kExplore};
  Tier best = Lowest(in, [&](Tier t) { return in.predictions[TierIndex(t)].ms; });
  return MaybeExplore(in, {best, Reason::kPredictedBest});
}

}  // namespace

Choice PredictivePolicy::Choose(const PolicyInput& in) { return Fastest(in); }

Choice SloPolicy::Choose(const PolicyInput& in) {
  // The edge targets are the cheap ones: the first allowed edge target whose
  // p95 meets the SLO (or that is not measured yet) keeps the request.
  const TierSet edges = in.allowed.Intersect(Targets().OfClass(TierClass::kEdge));
  const double slo = in.config->slo_ms;
  for (Tier t : AllTiers()) {
    if (!edges.Contains(t)) continue;
    const Prediction& edge = in.predictions[TierIndex(t)];
    if (!edge.measured || slo <= 0.0 || edge.p95_ms <= slo) {
      return MaybeExplore(in, {t, Reason::kPolicy});
    }
  }
  return Fastest(in);
}

Choice WeightedPolicy::Choose(const PolicyInput& in) {
  if (auto t = FirstUnmeasured(in)) return {*t, Reason::kExplore};
  const PolicyConfig::Weights& w = in.config->weights;
  Tier best = Lowest(in, [&](Tier t) {
    int i = TierIndex(t);
    return w.latency * in.predictions[i].ms + w.cost * figures_.cost[i] +
           w.energy * figures_.energy[i];
  });
  return MaybeExplore(in, {best, Reason::kPredictedBest});
}

}  // namespace stoa::scheduler
