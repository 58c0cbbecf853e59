#include "gateway/pipeline_invoker.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/guarded.h"
#include "common/http_status.h"
#include "gateway/pipeline_data.h"
#include "gateway/pipeline_spec.h"

namespace stoa::gateway {

// One pipeline invocation in flight; owned by the pending stage's callback.
struct PipelineInvoker::Run {
  v1::FunctionSpec pipeline;
  std::optional<scheduler::Tier> forced;
  DispatchCallback done;
  common::CancelSignalPtr cancel;
  int64_t start_us = 0;
  int64_t deadline_us = 0;  // 0: none of its own
  int stage = 0;            // the stage running or next
  std::string stage_name;   // its function
  std::string timings;      // X-Stoa-Stage-Timings so far
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
                                 common::metrics::Registry& metrics)
    : stages_(stages),
      lookup_(std::move(lookup)),
      clock_(clock),
      metrics_{metrics.AddHistogram("stoa_pipeline_stage_duration_seconds",
                                    "Latency of each successful pipeline stage, seen by the "
                                    "gateway, by pipeline, stage and tier."),
               metrics.AddCounter("stoa_pipeline_invocations_total",
                                  "Pipeline invocations by pipeline and outcome.")} {}

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
  absl::StatusOr<v1::InvokeRequest> request = StageRequest(std::move(input), function->spec);
  if (!request.ok()) return fail(request.status());
  std::optional<scheduler::Tier> forced = run->forced;
  if (!forced && !stage.tier().empty()) forced = scheduler::ParseTier(stage.tier());
  const common::CancelSignalPtr cancel = run->cancel;
  stages_.Invoke(
      *function, *std::move(request), forced,
      [this, run](absl::StatusOr<DispatchResult> result) { StageDone(run, std::move(result)); },
      cancel);
}

void PipelineInvoker::StageDone(std::shared_ptr<Run> run, absl::StatusOr<DispatchResult> result) {
  try {
    if (!result.ok()) return Finish(run, Named(run->stage, run->stage_name, result.status()));
    const std::string tier(scheduler::TierName(result->tier));
    metrics_.stage_duration
        .Add({{"pipeline", run->pipeline.name()}, {"stage", run->stage_name}, {"tier", tier}})
        ->Observe(result->latency_ms / 1e3);
    absl::StrAppend(&run->timings, run->timings.empty() ? "" : ",", run->stage_name, "=", tier, ":",
                    Ms(result->latency_ms), "ms");
    run->stages_ms += result->latency_ms;
    run->predicted_ms += result->predicted_ms;
    run->cold_start = run->cold_start || result->cold_start;
    if (++run->stage < run->pipeline.stages_size()) {
      return Step(run, AsNextInput(std::move(result->response)));
    }
    Finish(run, std::move(result));
  } catch (...) {
    Finish(run, common::InternalFromException(
                    absl::StrCat("pipeline '", run->pipeline.name(), "' after ",
                                 StageLabel(run->stage, run->stage_name))));
  }
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
  }
  common::RunLogged("pipeline answer", [&] { run->done(std::move(result)); });
}

void PipelineInvoker::Forget(const std::string& function, const std::string& sha256) {
  metrics_.stage_duration.RemoveMatching("pipeline", function);
  metrics_.invocations.RemoveMatching("pipeline", function);
  stages_.Forget(function, sha256);
}

}  // namespace stoa::gateway
