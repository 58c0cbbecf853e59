#include "scheduler/exploration.h"

#include <algorithm>
#include <cmath>

namespace stoa::scheduler {
namespace {

// How far the model's terms were off in all (actual − predicted, ms;
// unobserved terms count 0).
double TotalError(const TermErrors& errors) {
  double total = 0.0;
  for (double e : errors) total += std::isfinite(e) ? e : 0.0;
  return total;
}

// How far off a run must be to count as much slower or faster than
// predicted: 20 % of its latency + 5 ms.
double MuchMs(const Outcome& outcome) { return 0.2 * outcome.latency_ms + 5.0; }

}  // namespace

double Exploration::BestMeanMs(TierSet available, const Predictions& predictions) {
  double best = std::numeric_limits<double>::infinity();
  for (Tier t : AllTiers()) {
    const Prediction& p = predictions[TierIndex(t)];
    if (available.Contains(t) && p.measured) best = std::min(best, p.mean_ms);
  }
  return std::isfinite(best) ? best : 0.0;
}

double Exploration::ProbeCostMs(const Prediction& p, double best_ms) {
  return p.measured ? std::max(0.0, p.mean_ms - best_ms) : 0.0;
}

TierSet Exploration::FirstPending(TierSet allowed, const Predictions& predictions,
                                  int64_t now_us) const {
  TierSet out;
  for (Tier t : AllTiers()) {
    if (!allowed.Contains(t) || predictions[TierIndex(t)].measured) continue;
    if (now_us - tiers_[TierIndex(t)].last_used_us.load(std::memory_order_relaxed) < kStaleUs) {
      out.Add(t);
    }
  }
  return out;
}

TierSet Exploration::Explorable(double explore_budget, TierSet available,
                                const Predictions& predictions, double best_ms,
                                int64_t now_us) const {
  TierSet out;
  if (explore_budget <= 0.0) return out;
  for (Tier t : AllTiers()) {
    if (available.Contains(t) && FollowUps(t) > 0) out.Add(t);
  }
  const double spent = static_cast<double>(explores_.load(std::memory_order_relaxed)) + 1.0;
  const double allowance =
      explore_budget * static_cast<double>(decisions_.load(std::memory_order_relaxed));
  if (spent > allowance) return out;
  const double cost_allowance = explore_budget * best_ms_sum_.Value();
  const double cost_spent = explore_cost_ms_.Value();
  for (Tier t : AllTiers()) {
    if (!available.Contains(t)) continue;
    const PerTier& tier = tiers_[TierIndex(t)];
    const int64_t last = std::max(tier.last_used_us.load(std::memory_order_relaxed),
                                  tier.last_observed_us.load(std::memory_order_relaxed));
    if (now_us - last < kStaleUs) continue;
    const Prediction& p = predictions[TierIndex(t)];
    if (!p.measured || cost_spent + ProbeCostMs(p, best_ms) <= cost_allowance) out.Add(t);
  }
  return out;
}

int64_t Exploration::ShadowIntervalUs(const Prediction& p, double best_ms) {
  if (!(best_ms > 0.0)) return kStaleUs;
  const double loss = std::max(0.0, p.mean_ms - best_ms) / best_ms;
  const double us = static_cast<double>(kStaleUs) * (1.0 + loss);
  return static_cast<int64_t>(std::min(us, static_cast<double>(kMaxShadowIntervalUs)));
}

TierSet Exploration::StaleShadows(double explore_budget, double shadow_cap, TierSet available,
                                  Tier chosen, const Predictions& predictions, double best_ms,
                                  int64_t now_us,
                                  const std::array<int64_t, kNumTiers>* faster_since_us,
                                  TierSet* routine, TierSet* evidence) const {
  TierSet out;
  if (explore_budget <= 0.0) return out;
  // Routine shadows this decision may add within the cap (one per tier).
  double room = shadow_cap * static_cast<double>(decisions_.load(std::memory_order_relaxed) + 1) -
                static_cast<double>(shadows_.load(std::memory_order_relaxed));
  for (Tier t : AllTiers()) {
    const Prediction& p = predictions[TierIndex(t)];
    if (t == chosen || !available.Contains(t) || !p.measured) continue;
    const PerTier& tier = tiers_[TierIndex(t)];
    const int64_t last = std::max(tier.last_used_us.load(std::memory_order_relaxed),
                                  tier.last_observed_us.load(std::memory_order_relaxed));
    const bool changed = faster_since_us != nullptr && last < (*faster_since_us)[TierIndex(t)];
    if (FollowUps(t) > 0) {
      out.Add(t);
      if (evidence != nullptr) evidence->Add(t);
    } else if (changed && room < 1.0 && now_us - last >= kStaleUs) {
      // Evidence, and the cap is full: shadowed anyway (a tier kept off for
      // being slow is the one whose recovery matters), not counted towards
      // the cap, at most once per kStaleUs.
      out.Add(t);
      if (evidence != nullptr) evidence->Add(t);
    } else if (room >= 1.0 && (changed || now_us - last >= ShadowIntervalUs(p, best_ms))) {
      out.Add(t);
      if (routine != nullptr) routine->Add(t);
      if (changed && evidence != nullptr) evidence->Add(t);
      room -= 1.0;
    }
  }
  return out;
}

void Exploration::ShadowSent(Tier tier, int64_t now_us, bool routine) {
  Sent(tier, now_us);
  std::atomic<int>& follow_ups = tiers_[TierIndex(tier)].follow_ups;
  int owed = follow_ups.load(std::memory_order_relaxed);
  while (owed > 0 && !follow_ups.compare_exchange_weak(owed, owed - 1, std::memory_order_relaxed)) {
  }
  if (owed == 0 && routine) shadows_.fetch_add(1, std::memory_order_relaxed);
}

void Exploration::Sent(Tier tier, int64_t now_us) {
  tiers_[TierIndex(tier)].last_used_us.store(now_us, std::memory_order_relaxed);
}

void Exploration::Decided(Tier tier, Reason reason, const Prediction& predicted, double best_ms,
                          int64_t now_us) {
  Sent(tier, now_us);
  decisions_.fetch_add(1, std::memory_order_relaxed);
  best_ms_sum_.Add(best_ms);
  std::atomic<int>& follow_ups = tiers_[TierIndex(tier)].follow_ups;
  int owed = follow_ups.load(std::memory_order_relaxed);
  while (owed > 0 && !follow_ups.compare_exchange_weak(owed, owed - 1, std::memory_order_relaxed)) {
  }
  if (reason == Reason::kExplore && owed == 0) {
    explores_.fetch_add(1, std::memory_order_relaxed);
    explore_cost_ms_.Add(ProbeCostMs(predicted, best_ms));
  }
}

void Exploration::Observed(Tier tier, int64_t sent_us) {
  std::atomic<int64_t>& last = tiers_[TierIndex(tier)].last_observed_us;
  int64_t seen = last.load(std::memory_order_relaxed);
  while (seen < sent_us && !last.compare_exchange_weak(seen, sent_us, std::memory_order_relaxed)) {
  }
}

void Exploration::Probed(Tier tier, const Outcome& outcome, const TermErrors& errors, bool first,
                         double others_ms, bool lucky) {
  // Much faster than believed (or nothing was believed yet): probe again
  // soon, so the model settles in a few requests instead of a few budgets.
  // A tier found slower needs no more probes: the model already moved away.
  const bool competitive = outcome.latency_ms - outcome.load_ms <= 2.0 * others_ms;
  const bool changed = (first && competitive) || -TotalError(errors) > MuchMs(outcome);
  PerTier& s = tiers_[TierIndex(tier)];
  if (changed && !lucky && s.follow_ups.load(std::memory_order_relaxed) == 0) {
    s.follow_ups.store(kFollowUps, std::memory_order_relaxed);
  }
}

void Exploration::ShadowProbed(Tier tier, const Outcome& outcome, const TermErrors& errors,
                               bool first, double others_ms, bool lucky) {
  Probed(tier, outcome, errors, first, others_ms, lucky);
  PerTier& s = tiers_[TierIndex(tier)];
  // Still much slower than predicted: check again on the next decision, up
  // to kSlowChecks times in a row (see slowdowns above).
  const bool slower = TotalError(errors) > MuchMs(outcome);
  if (!slower) {
    s.rechecks_left.store(0, std::memory_order_relaxed);
  } else if (s.rechecks_left.load(std::memory_order_relaxed) > 0) {
    int none = 0;
    if (s.follow_ups.compare_exchange_strong(none, 1, std::memory_order_relaxed)) {
      s.rechecks_left.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

void Exploration::Served(Tier tier, const Outcome& outcome, const TermErrors& errors) {
  if (TotalError(errors) <= MuchMs(outcome)) return;
  int none = 0;
  tiers_[TierIndex(tier)].follow_ups.compare_exchange_strong(none, 1, std::memory_order_relaxed);
  tiers_[TierIndex(tier)].rechecks_left.store(kSlowChecks, std::memory_order_relaxed);
}

int Exploration::FollowUps(Tier tier) const {
  return tiers_[TierIndex(tier)].follow_ups.load(std::memory_order_relaxed);
}

}  // namespace stoa::scheduler
