#include "gateway/dispatcher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "gateway/pipeline_chain.h"
#include "gateway/run_group.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {

using scheduler::Reason;
using scheduler::Tier;
using scheduler::TierIndex;
using scheduler::TierName;
using scheduler::TierSet;

namespace {

std::string TierList(TierSet set) {
  std::string out;
  for (Tier t : scheduler::AllTiers()) {
    if (set.Contains(t)) absl::StrAppend(&out, out.empty() ? "" : ",", std::string(TierName(t)));
  }
  return out.empty() ? "none" : out;
}

std::array<executors::Executor*, scheduler::kNumTiers> Borrow(
    const std::array<executors::ExecutorPtr, scheduler::kNumTiers>& executors) {
  std::array<executors::Executor*, scheduler::kNumTiers> out{};
  for (Tier t : scheduler::AllTiers()) out[TierIndex(t)] = executors[TierIndex(t)].get();
  return out;
}

TierSet SpecTiers(const v1::FunctionSpec& spec) {
  TierSet tiers;
  for (const std::string& name : spec.tiers()) {
    for (Tier t : scheduler::AllTiers()) {
      if (scheduler::ParseTierOrClass(name).Contains(t)) tiers.Add(t);
    }
  }
  return tiers.Empty() ? TierSet::All() : tiers;
}

}  // namespace

Dispatcher::Dispatcher(std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors,
                       scheduler::Scheduler& scheduler, const common::Clock& clock,
                       common::metrics::Registry& metrics, Options options)
    : executors_(std::move(executors)),
      scheduler_(scheduler),
      clock_(clock),
      options_(options),
      metrics_(metrics),
      admission_(std::make_unique<Admission>(clock, metrics, options.admission)),
      monitor_(std::make_unique<TierMonitor>(
          Borrow(executors_), scheduler, clock, metrics,
          TierMonitor::Options{options.status_interval_ms, options.queued_work})),
      watchdog_(std::make_unique<DeadlineWatchdog>(
          clock, DeadlineWatchdog::Options{options.watchdog_recheck_us})),
      context_(std::make_unique<DispatchContext>(
          DispatchContext{scheduler, clock, *monitor_, loaded_, *watchdog_, metrics_, *admission_,
                          options.watchdog_grace_ms})) {}

Dispatcher::~Dispatcher() {
  monitor_.reset();  // stops the probes, waits for executor calls in flight
  watchdog_.reset();
}

void Dispatcher::Invoke(const StoredFunction& function, v1::InvokeRequest request,
                        std::optional<Tier> forced, DispatchCallback done,
                        common::CancelSignalPtr cancel) {
  auto call = std::make_shared<InvocationRequest>();
  call->name = function.spec.name();
  call->key = LoadedFunctions::Key(function.spec.name(), function.spec.sha256());
  call->spec = function.spec;
  call->artifact_path = function.artifact_path;
  request.set_function(function.spec.name());
  request.set_sha256(function.spec.sha256());
  call->request_bytes = request.raw().size();
  for (const auto& t : request.inputs()) call->request_bytes += t.raw().size();
  if (request.inputs_size() > 0 && request.inputs(0).shape_size() > 1) {
    call->batch = static_cast<uint32_t>(std::max<int64_t>(1, request.inputs(0).shape(0)));
  }
  call->request = std::move(request);
  call->timeout_ms = function.spec.limits().timeout_ms() > 0 ? function.spec.limits().timeout_ms()
                                                             : options_.default_timeout_ms;
  call->start_us = clock_.NowMicros();
  call->deadline_us = call->start_us + int64_t{call->timeout_ms} * 1000;
  const TierSet spec_tiers = SpecTiers(call->spec);
  for (Tier t : scheduler::AllTiers()) {
    if (spec_tiers.Contains(t) && monitor_->configured().Contains(t)) call->allowed.Add(t);
  }
  call->forced = forced.has_value();
  call->client_cancel = cancel;
  call->chain = ChainMembersOf(function);

  double work_ms = 0.0;
  auto decision = Admit(*call, spec_tiers, forced, &work_ms);
  if (!decision.ok()) return done(decision.status());
  done = Admitted(call->name, decision->tier, work_ms, std::move(done));
  if (!decision->hedge.Empty() || !decision->shadow.Empty() || !decision->backup.Empty()) {
    return RunGroup::Start(*context_, std::move(call), *decision, std::move(done));
  }
  // One run: the request's signal is the run's.
  Invocation::Start(*context_, std::move(call), *decision, Invocation::Role::kPrimary,
                    std::move(cancel), std::move(done));
}

Admission::Loads Dispatcher::Loads() const {
  Admission::Loads loads;
  for (Tier t : scheduler::AllTiers()) {
    const TierHealth h = monitor_->Health(t);
    loads[TierIndex(t)] = {h.workers, h.reported_depth};
  }
  return loads;
}

absl::StatusOr<scheduler::Decision> Dispatcher::Admit(InvocationRequest& call, TierSet spec_tiers,
                                                      std::optional<Tier> forced, double* work_ms) {
  RETURN_IF_ERROR(admission_->AcquireFunction(call.name, call.spec.limits().max_concurrency()));
  auto refuse = [&](absl::Status status) {
    admission_->ReleaseFunction(call.name);
    return status;
  };
  const Admission::Loads loads = Loads();
  // A forced tier the function cannot use, or an empty set, is Place's error.
  TierSet judged = call.allowed;
  if (forced) judged = call.allowed.Contains(*forced) ? TierSet::Of(*forced) : TierSet();
  const double remaining_ms = (call.deadline_us - clock_.NowMicros()) / 1000.0;
  const Admission::Verdicts verdicts = admission_->Judge(call.name, judged, remaining_ms, loads);
  TierSet open;
  for (Tier t : scheduler::AllTiers()) {
    if (judged.Contains(t) && verdicts[TierIndex(t)].open) open.Add(t);
  }
  if (!judged.Empty() && open.Empty())
    return refuse(admission_->Refuse(call.name, judged, verdicts));
  if (!forced) call.allowed = open.Empty() ? call.allowed : open;
  auto decision = Place(call, spec_tiers, forced);
  if (!decision.ok()) return refuse(decision.status());
  Admission::Verdicts reserved;
  if (!admission_->Reserve(call.name, decision->tier, remaining_ms,
                           loads[TierIndex(decision->tier)], &reserved[TierIndex(decision->tier)],
                           work_ms)) {
    return refuse(admission_->Refuse(call.name, TierSet::Of(decision->tier), reserved));
  }
  return decision;
}

DispatchCallback Dispatcher::Admitted(const std::string& function, Tier tier, double work_ms,
                                      DispatchCallback done) {
  return [admission = admission_.get(), function, tier, work_ms,
          done = std::move(done)](absl::StatusOr<DispatchResult> result) {
    // A success on the reserved tier teaches its run time (a failover's
    // tier was not reserved, so its time says nothing of this queue).
    const double run_ms =
        result.ok() && result->tier == tier ? result->response.exec_us() / 1000.0 : 0.0;
    admission->Release(tier, function, work_ms, run_ms);
    admission->ReleaseFunction(function);
    done(std::move(result));
  };
}

TierHealth Dispatcher::Health(Tier tier) const {
  TierHealth h = monitor_->Health(tier);
  if (!h.configured) return h;
  const Admission::Queue q = admission_->QueueOf(tier, {h.workers, h.reported_depth});
  h.admitted = q.admitted;
  h.queued = q.queued;
  h.queue_limit = q.limit;
  h.saturated = q.saturated;
  return h;
}

absl::StatusOr<scheduler::Decision> Dispatcher::Place(const InvocationRequest& call,
                                                      TierSet spec_tiers,
                                                      std::optional<Tier> forced) {
  scheduler::Features features;
  features.request_bytes = call.request_bytes;
  features.batch = call.batch;
  features.warm = loaded_.WarmTiers(call.key, call.allowed);
  monitor_->FillFeatures(features);
  if (forced) {
    const Tier t = *forced;
    if (!spec_tiers.Contains(t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("function '", call.name, "' does not run on tier ", std::string(TierName(t)),
                       " (its tiers: ", TierList(spec_tiers), ")"));
    }
    if (!monitor_->configured().Contains(t)) {
      return absl::UnavailableError(absl::StrCat("tier ", std::string(TierName(t)),
                                                 " is not configured on this gateway (configured: ",
                                                 TierList(monitor_->configured()), ")"));
    }
    return scheduler::Decision(t, Reason::kForced, scheduler_.PredictMs(call.name, t, features));
  }
  if (call.allowed.Empty()) {
    return absl::UnavailableError(absl::StrCat(
        "no tier available for function '", call.name, "': it runs on ", TierList(spec_tiers),
        ", this gateway has ", TierList(monitor_->configured())));
  }
  auto decided = scheduler_.Decide(call.name, call.allowed, features);
  if (decided.ok()) {
    STOA_CHECK(call.allowed.Contains(decided->tier), "the scheduler chose a tier not allowed");
  }
  return decided;
}

void Dispatcher::Forget(const std::string& function, const std::string& sha256) {
  loaded_.Forget(function, sha256);
  scheduler_.Forget(function);
  metrics_.Forget(function);
  admission_->Forget(function);
  for (Tier t : scheduler::AllTiers()) {
    executors::Executor* executor = monitor_->executor(t);
    if (!executor) continue;
    v1::UnloadFunctionRequest request;
    request.set_function(function);
    request.set_sha256(sha256);
    monitor_->CallStarted(t, TierMonitor::CallKind::kControl);
    executor->UnloadFunction(std::move(request),
                             [this, function, t](absl::StatusOr<v1::UnloadFunctionResponse> r) {
                               if (!r.ok()) {
                                 spdlog::warn("unloading '{}' from tier {}: {}", function,
                                              TierName(t), r.status().ToString());
                               }
                               monitor_->CallEnded(t, TierMonitor::CallKind::kControl);
                             });
  }
}

FunctionStats Dispatcher::Stats(const std::string& function, const std::string& sha256) const {
  FunctionStats out = loaded_.Stats(LoadedFunctions::Key(function, sha256));
  for (Tier t : scheduler::AllTiers()) {
    out[TierIndex(t)].configured = monitor_->configured().Contains(t);
  }
  return out;
}

}  // namespace stoa::gateway
