// FakeScheduler: a small real Scheduler for testing its callers (the
// dispatcher). Decide answers a scripted decision instead of learning, and
// every call that feeds something back is recorded for the test to read.
//
//   Decide             the preferred tier (Prefer; default edge) when
//                      allowed, else the edge, else the cloud; reason
//                      predicted-best with predicted_ms 4.5
//                      (SetDecisionPredictedMs), plus the scripted hedge and
//                      shadow tiers (SetExtras) that are allowed and not the
//                      chosen one; reason hedge when a hedge remains; the
//                      scripted backup (SetBackup) when there is no hedge. A
//                      scripted error (FailDecide) is returned instead.
//                      Records the features.
//   PredictMs          1.5 ms on the edge, 7.25 on the cloud (SetPredictMs).
//   Observe, ObserveComparison, ObserveLink, Forget
//                      recorded in call order.
//   Snapshot           the default policy, closed circuits, no functions.
//
// Like the real one it CHECK-fails on an empty `allowed` set.
//
// Thread safety: every method may be called concurrently (one mutex).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/scheduler.h"

namespace stoa::scheduler {

class FakeScheduler final : public Scheduler {
 public:
  struct Observation {
    Decision decision;
    Outcome outcome;
  };
  struct Link {
    Tier tier;
    bool ok;
    double rtt_ms;
  };
  using Comparison = std::pair<Tier, std::array<double, kNumTiers>>;  // chosen, latencies

  FakeScheduler() = default;

  // Scripting.
  void Prefer(Tier tier);
  // `keep_hedge`: the hedge is an evidence hedge (Decision::keep_hedge).
  void SetExtras(TierSet hedge, TierSet shadow, bool keep_hedge = false);
  void SetBackup(TierSet backup, double after_ms);
  void SetDecisionPredictedMs(double ms);
  void SetPredictMs(Tier tier, double ms);
  // Decide returns `status` from now on; an OK status restores decisions.
  void FailDecide(absl::Status status);

  // What the caller fed back, in call order.
  std::vector<Observation> observations() const;
  std::vector<Comparison> comparisons() const;
  std::vector<Link> links() const;
  std::vector<std::string> forgotten() const;
  // The features of the last Decide; how many Decide calls there were.
  Features last_features() const;
  int decide_calls() const;

  // Scheduler.
  absl::StatusOr<Decision> Decide(std::string_view function, TierSet allowed,
                                  const Features& features) override;
  double PredictMs(std::string_view function, Tier tier, const Features& features) override;
  void Observe(std::string_view function, const Decision& decision,
               const Outcome& outcome) override;
  void ObserveComparison(std::string_view function, Tier chosen,
                         const std::array<double, kNumTiers>& latency_ms) override;
  void ObserveLink(Tier tier, bool ok, double rtt_ms) override;
  void Forget(std::string_view function) override;
  SchedulerSnapshot Snapshot() const override;

 private:
  mutable absl::Mutex mu_;
  Tier preferred_ ABSL_GUARDED_BY(mu_) = Tier::kEdge;
  TierSet hedge_ ABSL_GUARDED_BY(mu_);
  bool keep_hedge_ ABSL_GUARDED_BY(mu_) = false;
  TierSet shadow_ ABSL_GUARDED_BY(mu_);
  TierSet backup_ ABSL_GUARDED_BY(mu_);
  double backup_after_ms_ ABSL_GUARDED_BY(mu_) = 0.0;
  double decision_predicted_ms_ ABSL_GUARDED_BY(mu_) = 4.5;
  std::array<double, kNumTiers> predict_ms_ ABSL_GUARDED_BY(mu_) = {1.5, 7.25};
  absl::Status decide_status_ ABSL_GUARDED_BY(mu_);
  Features last_features_ ABSL_GUARDED_BY(mu_);
  int decide_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Observation> observations_ ABSL_GUARDED_BY(mu_);
  std::vector<Comparison> comparisons_ ABSL_GUARDED_BY(mu_);
  std::vector<Link> links_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> forgotten_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::scheduler
