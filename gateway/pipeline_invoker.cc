#include "gateway/pipeline_invoker.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/guarded.h"
#include "common/http_status.h"
#include "functions/stage_data.h"
#include "gateway/pipeline_spec.h"

namespace stoa::gateway {

// One pipeline invocation in flight; owned by the pending stage's callback.
struct PipelineInvoker::Run {
  v1::FunctionSpec pipeline;
  std::optional<scheduler::Tier> forced;
  DispatchCallback done;
  common::CancelSignalPtr cancel;
  int64_t start_us = 0;
  int64_t deadline_us = 0;            // 0: none of its own
  int stage = 0;                      // the stage running or next
  std::string stage_name;             // its function
  std::string timings;                // X-Stoa-Stage-Timings so far
  std::string chains;                 // X-Stoa-Chains so far
  std::vector<ChainCandidate> chain;  // the chained call in flight
  double stages_ms = 0.0;
  double predicted_ms = 0.0;
  bool cold_start = false;
};

namespace {

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", ms);
  return buf;
}

// The stage's status with its label in front; payloads (Retry-After) kept.
absl::Status Named(int stage, const std::string& name, const absl::Status& status) {
  absl::Status named(status.code(), absl::StrCat(StageLabel(stage, name), ": ", status.message()));
  status.ForEachPayload([&named](absl::string_view url, const absl::Cord& payload) {
    named.SetPayload(url, payload);
  });
  return named;
}

}  // namespace

PipelineInvoker::PipelineInvoker(Invoker& stages, Lookup lookup, const common::Clock& clock,
                                 common::metrics::Registry& metrics,
                                 scheduler::Scheduler* scheduler)
    : stages_(stages),
      lookup_(std::move(lookup)),
      clock_(clock),
      metrics_{metrics.AddHistogram("stoa_pipeline_stage_duration_seconds",
                                    "Latency of each successful pipeline stage, seen by the "
                                    "gateway, by pipeline, stage and tier."),
               metrics.AddCounter("stoa_pipeline_invocations_total",
                                  "Pipeline invocations by pipeline and outcome."),
               metrics.AddCounter("stoa_pipeline_chained_calls_total",
                                  "Executor calls that ran several consecutive pipeline stages "
                                  "in memory, by pipeline and target.")},
      scheduler_(scheduler) {}

void PipelineInvoker::Invoke(const StoredFunction& function, v1::InvokeRequest request,
                             std::optional<scheduler::Tier> forced, DispatchCallback done,
                             common::CancelSignalPtr cancel) {
  if (!IsPipeline(function.spec)) {
    return stages_.Invoke(function, std::move(request), forced, std::move(done), std::move(cancel));
  }
  auto run = std::make_shared<Run>();
  run->pipeline = function.spec;
  run->forced = forced;
  run->done = std::move(done);
  run->cancel = std::move(cancel);
  run->start_us = clock_.NowMicros();
  if (const uint32_t t = function.spec.limits().timeout_ms(); t > 0) {
    run->deadline_us = run->start_us + int64_t{t} * 1000;
  }
  Step(std::move(run), std::move(request));
}

void PipelineInvoker::Step(std::shared_ptr<Run> run, v1::InvokeRequest input) {
  const v1::PipelineStage& stage = run->pipeline.stages(run->stage);
  run->stage_name = stage.function();
  auto fail = [&](const absl::Status& s) { Finish(run, Named(run->stage, stage.function(), s)); };
  if (run->cancel && run->cancel->cancelled()) {
    return fail(absl::CancelledError("not started: the client went away"));
  }
  if (run->deadline_us > 0 && clock_.NowMicros() >= run->deadline_us) {
    return fail(absl::DeadlineExceededError(
        absl::StrCat("not started: pipeline '", run->pipeline.name(), "' passed its deadline of ",
                     run->pipeline.limits().timeout_ms(), " ms")));
  }
  absl::StatusOr<StoredFunction> function = lookup_(stage.function());
  if (!function.ok()) return fail(function.status());
  if (IsPipeline(function->spec)) {
    return fail(absl::InvalidArgumentError("is now itself a pipeline; pipelines do not nest"));
  }
  absl::StatusOr<v1::InvokeRequest> request =
      functions::StageRequest(std::move(input), function->spec);
  if (!request.ok()) return fail(request.status());
  std::optional<scheduler::Tier> forced = run->forced;
  if (!forced && !stage.tier().empty()) forced = scheduler::ParseTier(stage.tier());
  if (TryChain(run, *function, forced, *request)) return;
  const common::CancelSignalPtr cancel = run->cancel;
  stages_.Invoke(
      *function, *std::move(request), forced,
      [this, run](absl::StatusOr<DispatchResult> result) { StageDone(run, std::move(result)); },
      cancel);
}

bool PipelineInvoker::TryChain(const std::shared_ptr<Run>& run, const StoredFunction& function,
                               std::optional<scheduler::Tier> forced, v1::InvokeRequest& request) {
  if (scheduler_ == nullptr || run->stage + 1 >= run->pipeline.stages_size()) return false;
  int k = run->stage;
  const NextStage next = [&]() -> std::optional<ChainCandidate> {
    if (++k >= run->pipeline.stages_size()) return std::nullopt;
    const v1::PipelineStage& stage = run->pipeline.stages(k);
    absl::StatusOr<StoredFunction> f = lookup_(stage.function());
    if (!f.ok() || IsPipeline(f->spec)) return std::nullopt;
    std::optional<scheduler::Tier> pin = run->forced;
    if (!pin && !stage.tier().empty()) pin = scheduler::ParseTier(stage.tier());
    return ChainCandidate{*std::move(f), pin, StageLabel(k, stage.function())};
  };
  uint64_t bytes = request.raw().size();
  for (const v1::Tensor& t : request.inputs()) bytes += t.raw().size();
  ChainPlan plan =
      PlanChain(*scheduler_, stages_,
                ChainCandidate{function, forced, StageLabel(run->stage, function.spec.name())},
                next, bytes, sizes_);
  if (plan.stages.empty()) return false;
  const StoredFunction call = ChainCall(plan.stages, request);
  metrics_.chained_calls
      .Add({{"pipeline", run->pipeline.name()},
            {"target", std::string(scheduler::TierName(*plan.target))}})
      ->Increment();
  run->chain = std::move(plan.stages);
  stages_.Invoke(
      call, std::move(request), plan.target,
      [this, run](absl::StatusOr<DispatchResult> result) { ChainDone(run, std::move(result)); },
      run->cancel);
  return true;
}

void PipelineInvoker::Record(Run& run, const std::string& stage, const std::string& tier,
                             double ms) {
  metrics_.stage_duration
      .Add({{"pipeline", run.pipeline.name()}, {"stage", stage}, {"tier", tier}})
      ->Observe(ms / 1e3);
  absl::StrAppend(&run.timings, run.timings.empty() ? "" : ",", stage, "=", tier, ":", Ms(ms),
                  "ms");
}

void PipelineInvoker::StageDone(std::shared_ptr<Run> run, absl::StatusOr<DispatchResult> result) {
  try {
    if (!result.ok()) return Finish(run, Named(run->stage, run->stage_name, result.status()));
    Record(*run, run->stage_name, std::string(scheduler::TierName(result->tier)),
           result->latency_ms);
    uint64_t bytes = result->response.raw().size();
    for (const v1::Tensor& t : result->response.outputs()) bytes += t.raw().size();
    sizes_.Observe(run->stage_name, bytes);
    ++run->stage;
    Advance(run, *std::move(result));
  } catch (...) {
    Finish(run, common::InternalFromException(
                    absl::StrCat("pipeline '", run->pipeline.name(), "' after ",
                                 StageLabel(run->stage, run->stage_name))));
  }
}

void PipelineInvoker::ChainDone(std::shared_ptr<Run> run, absl::StatusOr<DispatchResult> result) {
  try {
    const std::vector<ChainCandidate> chain = std::move(run->chain);
    if (!result.ok()) return Finish(run, ChainError(chain, result.status()));
    const auto& timings = result->response.stages();
    const std::string tier(scheduler::TierName(result->tier));
    // The executor timed each chained stage; the first keeps the rest of
    // the gateway's latency (placement, transfers, round trip).
    double later_ms = 0.0;
    for (int i = 1; i < timings.size(); ++i) {
      later_ms += (timings[i].queue_us() + timings[i].exec_us() + timings[i].load_us()) / 1e3;
    }
    for (int i = 0; i < timings.size() && i < static_cast<int>(chain.size()); ++i) {
      const v1::StageTiming& t = timings[i];
      const double ms = i == 0 ? std::max(0.0, result->latency_ms - later_ms)
                               : (t.queue_us() + t.exec_us() + t.load_us()) / 1e3;
      Record(*run, chain[i].function.spec.name(), tier, ms);
      sizes_.Observe(chain[i].function.spec.name(), t.output_bytes());
    }
    absl::StrAppend(&run->chains, run->chains.empty() ? "" : ",", run->stage + 1, "-",
                    run->stage + static_cast<int>(chain.size()), "=", tier);
    run->stage += static_cast<int>(chain.size());
    run->stage_name = chain.back().function.spec.name();
    Advance(run, *std::move(result));
  } catch (...) {
    Finish(run, common::InternalFromException(
                    absl::StrCat("pipeline '", run->pipeline.name(), "' after a chained call")));
  }
}

void PipelineInvoker::Advance(std::shared_ptr<Run> run, DispatchResult result) {
  run->stages_ms += result.latency_ms;
  run->predicted_ms += result.predicted_ms;
  run->cold_start = run->cold_start || result.cold_start;
  if (run->stage < run->pipeline.stages_size()) {
    return Step(std::move(run), functions::AsNextInput(std::move(result.response)));
  }
  result.response.clear_stages();
  Finish(run, std::move(result));
}

void PipelineInvoker::Finish(const std::shared_ptr<Run>& run,
                             absl::StatusOr<DispatchResult> result) {
  metrics_.invocations
      .Add({{"pipeline", run->pipeline.name()}, {"outcome", common::OutcomeLabel(result.status())}})
      ->Increment();
  if (result.ok()) {
    const double total_ms = (clock_.NowMicros() - run->start_us) / 1000.0;
    result->latency_ms = total_ms;
    result->predicted_ms = run->predicted_ms;
    result->cold_start = run->cold_start;
    result->headers.emplace_back("X-Stoa-Stage-Timings", run->timings);
    result->headers.emplace_back("X-Stoa-Pipeline-Overhead-Ms",
                                 Ms(std::max(0.0, total_ms - run->stages_ms)));
    if (!run->chains.empty()) result->headers.emplace_back("X-Stoa-Chains", run->chains);
  }
  common::RunLogged("pipeline answer", [&] { run->done(std::move(result)); });
}

void PipelineInvoker::Forget(const std::string& function, const std::string& sha256) {
  metrics_.stage_duration.RemoveMatching("pipeline", function);
  metrics_.invocations.RemoveMatching("pipeline", function);
  stages_.Forget(function, sha256);
}

}  // namespace stoa::gateway
