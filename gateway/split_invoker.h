// SplitInvoker: the Invoker (invoker.h) in front of the Dispatcher that runs
// functions registered with "split": true as Neurosurgeon does
// (docs/split.md). Calls for other functions pass through unchanged.
//
// For a split function each request is placed by a SplitPlanner
// (scheduler/split_planner.h) among the whole function at the edge, the
// whole function in the cloud, and every cut point the engine found at
// registration (spec.split_cuts). A cut runs as two dispatcher calls: the
// prefix forced to the edge (InvokeRequest.split_part PREFIX), then the
// suffix forced to the cloud with the prefix's one output tensor as its
// input (binary, in InvokeRequest.inputs; split_part SUFFIX). Both go
// through admission, cold-start loading and deadlines like any call; the
// function's timeout (limits.timeout_ms, else Options::default_timeout_ms)
// is the budget of both together: the suffix gets what the prefix left of
// it, and none left is DEADLINE_EXCEEDED naming the prefix's time. When
// the cloud is unreachable (UNAVAILABLE) the suffix runs at the edge. The
// result says where it ran (DispatchResult::split = the cut tensor's name,
// answered as X-Stoa-Split), and each part's times teach the planner.
//
// Forcing (tests, benchmarks): InvokeRequest.split_cut set by the caller
// (the REST layer's ?split=NAME) runs that cut; "none" runs the whole
// function where the dispatcher's scheduler places it. A name that is not a cut
// point, or ?split= on a function registered without "split": true, is
// INVALID_ARGUMENT naming it; so is ?split= together with ?tier=, or on a
// gateway (or function) without both the edge and the cloud tier.
// A forced tier (?tier=) without ?split= runs the whole function there.
//
// Metrics: stoa_split_decisions_total{function,placement,cut,reason}
// (placement whole_edge|whole_cloud|split; reason planner|explore|forced).
//
// Thread safety: as Invoker. Ownership: borrows the inner invoker, planner
// and clock, which must outlive it.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "gateway/invoker.h"
#include "scheduler/split_planner.h"

namespace stoa::gateway {

class SplitInvoker final : public Invoker {
 public:
  struct Options {
    // The budget of a split request whose function sets no timeout (the
    // dispatcher's Options::default_timeout_ms).
    uint32_t default_timeout_ms = 10000;
  };
  SplitInvoker(Invoker& inner, scheduler::SplitPlanner& planner, const common::Clock& clock,
               common::metrics::Registry& metrics, Options options);

  void Invoke(const StoredFunction& function, v1::InvokeRequest request,
              std::optional<scheduler::Tier> forced, DispatchCallback done,
              common::CancelSignalPtr cancel = nullptr) override;
  void Forget(const std::string& function, const std::string& sha256) override;
  scheduler::TierSet configured_tiers() const override { return inner_.configured_tiers(); }
  TierHealth Health(scheduler::Tier tier) const override { return inner_.Health(tier); }
  FunctionStats Stats(const std::string& function, const std::string& sha256) const override {
    return inner_.Stats(function, sha256);
  }

  // The planner's view of each split function among `specs` (others are
  // skipped), for GET /v1/scheduler/state (split_json.h renders it).
  std::vector<std::pair<std::string, scheduler::SplitPlanner::FunctionView>> Views(
      const std::vector<v1::FunctionSpec>& specs) const;

 private:
  struct Call;  // one split request in flight (split_invoker.cc)

  // Whole function on `tier` (nullopt: the dispatcher's scheduler places it).
  void RunWhole(const StoredFunction& function, v1::InvokeRequest request,
                std::optional<scheduler::Tier> tier, DispatchCallback done,
                common::CancelSignalPtr cancel);
  void RunPrefix(std::shared_ptr<Call> call);
  void RunSuffix(std::shared_ptr<Call> call, v1::InvokeResponse prefix, scheduler::Tier tier);
  void Count(const std::string& function, const std::string& placement, const std::string& cut,
             const std::string& reason);
  // The cloud's round trip for the planner: the smallest status-probe RTT
  // read in the last kRttWindowUs. A probe that waited on the link behind a
  // large transfer (a whole input, a 200 KB cut) measures the transfer, not
  // the round trip; taken as the RTT it would be subtracted from the next
  // transfer samples (making the link look fast) and added to every option.
  double CloudRttMs() const;
  static constexpr int64_t kRttWindowUs = 10'000'000;

  Invoker& inner_;
  scheduler::SplitPlanner& planner_;
  const Options options_;
  mutable absl::Mutex rtt_mu_;
  // (read at, rtt_ms), the RTTs increasing from the front: a sliding minimum.
  mutable std::deque<std::pair<int64_t, double>> rtt_window_ ABSL_GUARDED_BY(rtt_mu_);
  const common::Clock& clock_;
  common::metrics::Family<common::metrics::Counter>& decisions_;
};

// The cut points stored with a split function, as the planner takes them.
std::vector<scheduler::SplitCutInfo> SplitCutsOf(const v1::FunctionSpec& spec);

}  // namespace stoa::gateway
