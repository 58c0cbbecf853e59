// PipelineInvoker: the Invoker the REST layer, the KServe gRPC service and
// the event queue call. A function of runtime "pipeline" is run here, stage
// by stage; any other function goes straight to the wrapped Invoker (the
// Dispatcher).
//
// One pipeline invocation (docs/pipelines.md):
//   for each stage k: the stage's function is read from the registry (its
//   current version); the input (the request, or stage k-1's answer) is
//   fitted to it in binary (gateway/functions/stage_data.h); the stage is invoked
//   through the wrapped Invoker, so the scheduler places it with its own
//   learned terms and the intermediate data's size as the request size
//   (the transfer of the intermediate data is counted); admission, cold
//   starts, failover and the stage's own deadline apply per stage.
//   Placement: `forced` (?tier=) applies to every stage; else a stage's
//   pinned tier ("tier" in the stage) forces that stage; else the scheduler.
//   An error ends the pipeline: its status code is kept and its message
//   starts with "stage K (name): ". Between stages the pipeline's own
//   limits.timeout_ms (when set) is checked: past it, DEADLINE_EXCEEDED
//   naming the next stage; a cancelled request stops before the next stage.
// Chains (with a scheduler given): before stage k runs, PlanChain
// (gateway/pipeline_chain.h) may place stages k..m on one remote target;
// they then go to the dispatcher as ONE call (stage k's function carrying
// the rest, forced there), the executor runs them in memory
// (executors/chain_runner.h), each chained stage is timed by the executor
// and learned as its own outcome, and an error names the chained stage.
// X-Stoa-Chains lists the chains ("1-3=cloud").
// The result is the last stage's, with X-Stoa-Stage-Timings
// ("name=tier:1.234ms,..." per stage, as measured by the gateway around
// each stage) and X-Stoa-Pipeline-Overhead-Ms (the pipeline's latency minus
// the stages': the gateway's own cost between stages); tier and reason are
// the last stage's, predicted_ms the sum of the stages'.
//
// Metrics (registry injected): stoa_pipeline_stage_duration_seconds
// {pipeline,stage,tier} (histogram, successful stages) and
// stoa_pipeline_invocations_total{pipeline,outcome},
// stoa_pipeline_chained_calls_total{pipeline,target}.
//
// Thread safety: as Invoker; a run continues on the thread of the previous
// stage's answer. Ownership: the wrapped invoker and the lookup's registry
// must outlive this object and every run in flight.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/metrics.h"
#include "gateway/invoker.h"
#include "gateway/pipeline_chain.h"

namespace stoa::gateway {

class PipelineInvoker final : public Invoker {
 public:
  // A registered function by name (FunctionRegistry::Get or ControlPlane::Get).
  using Lookup = std::function<absl::StatusOr<StoredFunction>(const std::string&)>;

  // `scheduler` (nullable: no chains) gives the predictions chains are
  // planned with; it must outlive this object.
  PipelineInvoker(Invoker& stages, Lookup lookup, const common::Clock& clock,
                  common::metrics::Registry& metrics, scheduler::Scheduler* scheduler = nullptr);

  void Invoke(const StoredFunction& function, v1::InvokeRequest request,
              std::optional<scheduler::Tier> forced, DispatchCallback done,
              common::CancelSignalPtr cancel = nullptr) override;
  // Forwards; a pipeline's metric series go with it.
  void Forget(const std::string& function, const std::string& sha256) override;
  scheduler::TierSet configured_tiers() const override { return stages_.configured_tiers(); }
  TierHealth Health(scheduler::Tier tier) const override { return stages_.Health(tier); }
  FunctionStats Stats(const std::string& function, const std::string& sha256) const override {
    return stages_.Stats(function, sha256);
  }

  struct Metrics {
    common::metrics::Family<common::metrics::Histogram>& stage_duration;
    common::metrics::Family<common::metrics::Counter>& invocations;
    common::metrics::Family<common::metrics::Counter>& chained_calls;
  };

 private:
  struct Run;
  void Step(std::shared_ptr<Run> run, v1::InvokeRequest input);
  // Sends stages run->stage.. as one chained call when PlanChain says so;
  // false (and `request` untouched) otherwise.
  bool TryChain(const std::shared_ptr<Run>& run, const StoredFunction& function,
                std::optional<scheduler::Tier> forced, v1::InvokeRequest& request);
  void StageDone(std::shared_ptr<Run> run, absl::StatusOr<DispatchResult> result);
  void ChainDone(std::shared_ptr<Run> run, absl::StatusOr<DispatchResult> result);
  // Counts one successful stage in the metrics and X-Stoa-Stage-Timings.
  void Record(Run& run, const std::string& stage, const std::string& tier, double ms);
  // Continues with the next stage, or finishes after the last.
  void Advance(std::shared_ptr<Run> run, DispatchResult result);
  void Finish(const std::shared_ptr<Run>& run, absl::StatusOr<DispatchResult> result);

  Invoker& stages_;
  const Lookup lookup_;
  const common::Clock& clock_;
  Metrics metrics_;
  scheduler::Scheduler* const scheduler_;
  OutputSizes sizes_;
};

}  // namespace stoa::gateway
