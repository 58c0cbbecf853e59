// FakeInvoker: the invocation path as the REST layer sees it, scripted.
// Invoke records the call and answers at once with the scripted result (by
// default: the request's inputs echoed, on the edge, reason
// predicted-best); Forget records; tiers, health and stats are set by the
// test.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gateway/invoker.h"

namespace stoa::gateway {

class FakeInvoker final : public Invoker {
 public:
  struct Call {
    std::string function;
    v1::InvokeRequest request;
    std::optional<scheduler::Tier> forced;
  };

  void Invoke(const StoredFunction& function, v1::InvokeRequest request,
              std::optional<scheduler::Tier> forced, DispatchCallback done,
              common::CancelSignalPtr /*cancel*/ = nullptr) override {
    absl::StatusOr<DispatchResult> result;
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back({function.spec.name(), request, forced});
      if (!error_.ok()) {
        result = error_;
      } else {
        DispatchResult r = result_;
        if (r.response.outputs_size() == 0 && r.response.raw().empty()) {
          *r.response.mutable_outputs() = request.inputs();
          r.response.set_raw(request.raw());
        }
        if (forced) {
          r.tier = *forced;
          r.reason = scheduler::Reason::kForced;
        }
        result = std::move(r);
      }
    }
    done(std::move(result));
  }
  void Forget(const std::string& function, const std::string& sha256) override {
    absl::MutexLock lock(&mu_);
    forgotten_.emplace_back(function, sha256);
  }
  scheduler::TierSet configured_tiers() const override {
    absl::MutexLock lock(&mu_);
    return configured_;
  }
  TierHealth Health(scheduler::Tier tier) const override {
    absl::MutexLock lock(&mu_);
    TierHealth h;
    h.configured = configured_.Contains(tier);
    if (h.configured) h.executor = std::string("fake-") + std::string(scheduler::TierName(tier));
    h.last_probe = probes_[scheduler::TierIndex(tier)];
    return h;
  }
  FunctionStats Stats(const std::string&, const std::string&) const override {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

  void SetResult(DispatchResult result) {
    absl::MutexLock lock(&mu_);
    result_ = std::move(result);
  }
  void SetError(absl::Status error) {
    absl::MutexLock lock(&mu_);
    error_ = std::move(error);
  }
  void SetConfigured(scheduler::TierSet tiers) {
    absl::MutexLock lock(&mu_);
    configured_ = tiers;
  }
  // What the last status probe of `tier` saw (the event queue's offline mode).
  void SetProbe(scheduler::Tier tier, TierHealth::Probe probe) {
    absl::MutexLock lock(&mu_);
    probes_[scheduler::TierIndex(tier)] = probe;
  }
  void SetStats(FunctionStats stats) {
    absl::MutexLock lock(&mu_);
    stats_ = stats;
  }
  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::pair<std::string, std::string>> forgotten() const {
    absl::MutexLock lock(&mu_);
    return forgotten_;
  }

 private:
  mutable absl::Mutex mu_;
  DispatchResult result_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  scheduler::TierSet configured_ ABSL_GUARDED_BY(mu_) = scheduler::TierSet::All();
  FunctionStats stats_ ABSL_GUARDED_BY(mu_){};
  std::array<TierHealth::Probe, scheduler::kNumTiers> probes_ ABSL_GUARDED_BY(mu_){};
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> forgotten_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::gateway
