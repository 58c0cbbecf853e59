#include "tests/fakes/scheduler/fake_scheduler.h"

#include "common/check.h"

namespace stoa::scheduler {
namespace {

// The tiers of `set` that are in `allowed`, other than `chosen`.
TierSet Restrict(TierSet set, TierSet allowed, Tier chosen) {
  TierSet out;
  for (Tier t : AllTiers()) {
    if (t != chosen && set.Contains(t) && allowed.Contains(t)) out.Add(t);
  }
  return out;
}

}  // namespace

void FakeScheduler::Prefer(Tier tier) {
  absl::MutexLock lock(&mu_);
  preferred_ = tier;
}

void FakeScheduler::SetExtras(TierSet hedge, TierSet shadow, bool keep_hedge) {
  absl::MutexLock lock(&mu_);
  hedge_ = hedge;
  keep_hedge_ = keep_hedge;
  shadow_ = shadow;
}

void FakeScheduler::SetBackup(TierSet backup, double after_ms) {
  absl::MutexLock lock(&mu_);
  backup_ = backup;
  backup_after_ms_ = after_ms;
}

void FakeScheduler::SetDecisionPredictedMs(double ms) {
  absl::MutexLock lock(&mu_);
  decision_predicted_ms_ = ms;
}

void FakeScheduler::SetPredictMs(Tier tier, double ms) {
  absl::MutexLock lock(&mu_);
  predict_ms_[TierIndex(tier)] = ms;
}

void FakeScheduler::FailDecide(absl::Status status) {
  absl::MutexLock lock(&mu_);
  decide_status_ = std::move(status);
}

std::vector<FakeScheduler::Observation> FakeScheduler::observations() const {
  absl::MutexLock lock(&mu_);
  return observations_;
}

std::vector<FakeScheduler::Comparison> FakeScheduler::comparisons() const {
  absl::MutexLock lock(&mu_);
  return comparisons_;
}

std::vector<FakeScheduler::Link> FakeScheduler::links() const {
  absl::MutexLock lock(&mu_);
  return links_;
}

std::vector<std::string> FakeScheduler::forgotten() const {
  absl::MutexLock lock(&mu_);
  return forgotten_;
}

Features FakeScheduler::last_features() const {
  absl::MutexLock lock(&mu_);
  return last_features_;
}

int FakeScheduler::decide_calls() const {
  absl::MutexLock lock(&mu_);
  return decide_calls_;
}

absl::StatusOr<Decision> FakeScheduler::Decide(std::string_view, TierSet allowed,
                                               const Features& features) {
  STOA_CHECK(!allowed.Empty(), "Decide needs at least one allowed tier");
  absl::MutexLock lock(&mu_);
  ++decide_calls_;
  last_features_ = features;
  if (!decide_status_.ok()) return decide_status_;
  const Tier tier = allowed.Contains(preferred_)    ? preferred_
                    : allowed.Contains(Tier::kEdge) ? Tier::kEdge
                                                    : Tier::kCloud;
  Decision d{tier, Reason::kPredictedBest, decision_predicted_ms_};
  d.hedge = Restrict(hedge_, allowed, tier);
  d.shadow = Restrict(shadow_, allowed, tier);
  if (!d.hedge.Empty()) d.reason = Reason::kHedge;
  d.keep_hedge = keep_hedge_ && !d.hedge.Empty();
  d.backup = d.hedge.Empty() ? Restrict(backup_, allowed, tier) : TierSet{};
  if (!d.backup.Empty()) d.backup_after_ms = backup_after_ms_;
  return d;
}

double FakeScheduler::PredictMs(std::string_view, Tier tier, const Features&) {
  absl::MutexLock lock(&mu_);
  return predict_ms_[TierIndex(tier)];
}

void FakeScheduler::Observe(std::string_view, const Decision& decision, const Outcome& outcome) {
  absl::MutexLock lock(&mu_);
  observations_.push_back({decision, outcome});
}

void FakeScheduler::ObserveComparison(std::string_view, Tier chosen,
                                      const std::array<double, kNumTiers>& latency_ms) {
  absl::MutexLock lock(&mu_);
  comparisons_.emplace_back(chosen, latency_ms);
}

void FakeScheduler::ObserveLink(Tier tier, bool ok, double rtt_ms) {
  absl::MutexLock lock(&mu_);
  links_.push_back({tier, ok, rtt_ms});
}

void FakeScheduler::Forget(std::string_view function) {
  absl::MutexLock lock(&mu_);
  forgotten_.emplace_back(function);
}

SchedulerSnapshot FakeScheduler::Snapshot() const { return {}; }

}  // namespace stoa::scheduler
