#include "gateway/invocation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/guarded.h"
#include "common/http_status.h"
#include "common/overload.h"
#include "gateway/pipeline_chain.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {

using scheduler::Reason;
using scheduler::Tier;
using scheduler::TierClassName;
using scheduler::TierName;
using CallKind = TierMonitor::CallKind;

namespace {

// A tier failure says the tier itself is unhealthy: it could not be
// reached. Everything else the executor answered is the function's own
// outcome (docs/architecture.md § Errors).
bool IsTierFailure(const absl::Status& s) { return s.code() == absl::StatusCode::kUnavailable; }

}  // namespace

InvocationMetrics::InvocationMetrics(common::metrics::Registry& registry)
    : invocations(registry.AddCounter("stoa_invocations_total",
                                      "Invocation attempts by function, tier and outcome.")),
      duration(registry.AddHistogram("stoa_invocation_duration_seconds",
                                     "Latency of successful invocations seen by the gateway.")),
      cold_starts(registry.AddCounter("stoa_cold_starts_total",
                                      "Functions pushed to an executor that lacked them.")),
      hedge_cancelled(registry.AddCounter(
          "stoa_hedge_cancelled_total",
          "Losing runs of hedged invocations cancelled once the other tier answered.")),
      backups(registry.AddCounter(
          "stoa_backups_total",
          "Backups because the chosen tier had not answered by its due time (policy "
          "late_hedge), by the backup's tier: runs started there, or a shadow already "
          "running there promoted to answer.")) {}

common::metrics::Labels InvocationMetrics::Labels(const std::string& function, Tier tier) {
  return {{"function", function},
          {"tier", std::string(TierClassName(tier))},
          {"target", std::string(TierName(tier))}};
}

void InvocationMetrics::Count(const std::string& function, Tier tier, const absl::Status& status) {
  common::metrics::Labels labels = Labels(function, tier);
  labels.emplace("outcome", common::OutcomeLabel(status));
  invocations.Add(labels)->Increment();
}

void InvocationMetrics::Forget(const std::string& function) {
  invocations.RemoveMatching("function", function);
  duration.RemoveMatching("function", function);
  cold_starts.RemoveMatching("function", function);
  hedge_cancelled.RemoveMatching("function", function);
  backups.RemoveMatching("function", function);
}

Invocation::Invocation(DispatchContext& context, std::shared_ptr<const InvocationRequest> request,
                       Role role, executors::CancelSignalPtr cancel, DispatchCallback done)
    : context_(context),
      request_(std::move(request)),
      role_(role),
      cancel_(std::move(cancel)),
      done_(std::move(done)) {}

void Invocation::Start(DispatchContext& context, std::shared_ptr<const InvocationRequest> request,
                       const scheduler::Decision& decision, Role role,
                       executors::CancelSignalPtr cancel, DispatchCallback done) {
  const int64_t due_us = request->deadline_us + int64_t{context.watchdog_grace_ms} * 1000;
  auto self = std::make_shared<Invocation>(context, std::move(request), role, std::move(cancel),
                                           std::move(done));
  std::weak_ptr<Invocation> weak = self;
  self->watch_ = context.watchdog.Watch(due_us, [weak] {
    if (auto invocation = weak.lock()) invocation->TimedOut();
  });
  self->Attempt(decision);
}

Invocation::AttemptInfo Invocation::CurrentAttempt() {
  absl::MutexLock lock(&mu_);
  return attempt_;
}

bool Invocation::Claim() {
  if (finished_.exchange(true)) return false;
  context_.watchdog.Cancel(watch_);
  return true;
}

template <typename Body>
void Invocation::Guarded(Body&& body) {
  try {
    std::forward<Body>(body)();
  } catch (...) {
    Abandon(common::InternalFromException(absl::StrCat("invocation of '", request_->name, "'")));
  }
}

void Invocation::Abandon(const absl::Status& status) {
  if (!Claim()) return;
  common::RunLogged("invocation answer", [&] { done_(status); });
}

void Invocation::Attempt(const scheduler::Decision& decision) {
  {
    absl::MutexLock lock(&mu_);
    attempt_ = {decision, context_.clock.NowMicros()};
  }
  tried_.Add(decision.tier);
  load_us_ = 0;
  cold_ = false;
  reloaded_ = false;
  if (AllLoaded(decision.tier)) {
    Run();
  } else {
    Load();
  }
}

bool Invocation::AllLoaded(Tier tier) const {
  if (!context_.loaded.IsLoaded(tier, request_->key)) return false;
  for (const ChainMember& m : request_->chain) {
    if (!context_.loaded.IsLoaded(tier, m.key)) return false;
  }
  return true;
}

void Invocation::Load() {
  const Tier tier = CurrentTier();
  if (context_.clock.NowMicros() >= request_->deadline_us) {
    return Fail(absl::DeadlineExceededError("deadline passed before loading"));
  }
  // The function itself, else the first chained stage the tier lacks.
  const ChainMember* member = nullptr;
  if (context_.loaded.IsLoaded(tier, request_->key)) {
    for (const ChainMember& m : request_->chain) {
      if (!context_.loaded.IsLoaded(tier, m.key)) {
        member = &m;
        break;
      }
    }
  }
  const std::string& name = member ? member->name : request_->name;
  const std::string& key = member ? member->key : request_->key;
  v1::LoadFunctionRequest load;
  *load.mutable_spec() = member ? member->spec : request_->spec;
  // The registry's file: the in-process edge loads it where it lies, a gRPC
  // executor gets it streamed (LoadFunctionStream).
  load.set_artifact_path(member ? member->artifact_path : request_->artifact_path);
  const int64_t load_start = context_.clock.NowMicros();
  context_.tiers.CallStarted(tier, CallKind::kControl);
  context_.tiers.executor(tier)->LoadFunction(
      std::move(load), [self = shared_from_this(), tier, load_start, name,
                        key](absl::StatusOr<v1::LoadFunctionResponse> loaded) {
        self->Guarded([&] {
          DispatchContext& ctx = self->context_;
          if (loaded.ok()) {
            ctx.loaded.SetLoaded(tier, key, true);
            if (!loaded->already_loaded()) {
              ctx.metrics.cold_starts.Add(InvocationMetrics::Labels(name, tier))->Increment();
              ctx.loaded.RecordColdStart(tier, key);
            }
          }
          if (!self->finished()) {
            if (!loaded.ok()) {
              self->Fail(
                  absl::Status(loaded.status().code(),
                               absl::StrCat("loading '", name, "': ", loaded.status().message())));
            } else {
              if (!loaded->already_loaded()) {
                const int64_t measured = std::max<int64_t>(0, ctx.clock.NowMicros() - load_start);
                self->cold_ = true;
                self->load_us_ += loaded->load_us() > 0 ? loaded->load_us() : measured;
              }
              if (self->AllLoaded(tier)) {
                self->Run();
              } else {
                self->Load();
              }
            }
          }
        });
        self->context_.tiers.CallEnded(tier, CallKind::kControl);
      });
}

void Invocation::Run() {
  const AttemptInfo attempt = CurrentAttempt();
  const Tier tier = attempt.decision.tier;
  const int64_t remaining_us = request_->deadline_us - context_.clock.NowMicros();
  if (remaining_us <= 0) {
    return Fail(absl::DeadlineExceededError("deadline passed before invoking"));
  }
  if (cancel_ && cancel_->cancelled()) return Fail(absl::CancelledError(CancelReason()));
  v1::InvokeRequest invoke = request_->request;
  invoke.set_timeout_ms(static_cast<uint32_t>(std::max<int64_t>(1, remaining_us / 1000)));
  const int64_t due_us = TierMonitor::DueMicros(attempt.start_us, attempt.decision.predicted_ms);
  ahead_ = context_.tiers.CallStarted(tier, CallKind::kInvoke, due_us);
  context_.tiers.executor(tier)->Invoke(
      std::move(invoke),
      [self = shared_from_this(), tier, due_us](absl::StatusOr<v1::InvokeResponse> result) {
        self->Guarded([&] {
          if (!self->finished()) {
            if (result.ok()) {
              self->Succeed(*std::move(result));
            } else if (absl::IsNotFound(result.status()) && !self->reloaded_) {
              // The executor lost the function (restarted): push it again, once.
              spdlog::info("{} lost '{}' on tier {}; reloading",
                           self->context_.tiers.Describe(tier), self->request_->name,
                           TierName(tier));
              self->reloaded_ = true;
              self->context_.loaded.SetLoaded(tier, self->request_->key, false);
              for (const ChainMember& m : self->request_->chain) {
                self->context_.loaded.SetLoaded(tier, m.key, false);
              }
              self->Load();
            } else {
              self->Fail(result.status());
            }
          }
        });
        self->context_.tiers.CallEnded(tier, CallKind::kInvoke, due_us);
      },
      cancel_);
}

scheduler::Outcome Invocation::MakeOutcome(const AttemptInfo& attempt, int64_t now_us,
                                           const v1::InvokeResponse* response,
                                           bool tier_failure) const {
  scheduler::Outcome outcome;
  outcome.tier = attempt.decision.tier;
  outcome.ok = response != nullptr;
  outcome.tier_failure = tier_failure;
  outcome.latency_ms = (now_us - attempt.start_us) / 1000.0;
  outcome.load_ms = load_us_ / 1000.0;
  outcome.request_bytes = request_->request_bytes;
  outcome.batch = request_->batch;
  outcome.ahead = ahead_;
  outcome.shadow = role_ == Role::kShadow;
  if (response != nullptr) {
    outcome.server_ms = (response->queue_us() + load_us_ + response->exec_us()) / 1000.0;
    outcome.queue_ms = response->queue_us() / 1000.0;
    outcome.exec_ms = response->exec_us() / 1000.0;
    for (const auto& t : response->outputs()) outcome.response_bytes += t.raw().size();
    outcome.response_bytes += response->raw().size();
  }
  return outcome;
}

void Invocation::Succeed(v1::InvokeResponse response) {
  if (!Claim()) return;
  const AttemptInfo attempt = CurrentAttempt();
  const int64_t now = context_.clock.NowMicros();
  const Tier tier = attempt.decision.tier;
  // A pool loads a function on a member at its first call there: that load
  // is this call's cold start too.
  if (response.load_us() > 0) {
    load_us_ += response.load_us();
    cold_ = true;
  }
  response.set_load_us(load_us_);
  const scheduler::Outcome outcome = MakeOutcome(attempt, now, &response, false);
  for (const auto& [name, part] : ChainOutcomes(request_->name, outcome, response)) {
    context_.scheduler.Observe(name, attempt.decision, part);
    context_.metrics.Count(name, tier, absl::OkStatus());
    context_.metrics.duration.Add(InvocationMetrics::Labels(name, tier))
        ->Observe(part.latency_ms / 1e3);
  }
  context_.tiers.ReportDepth(tier, response.queue_depth());
  context_.loaded.RecordSuccess(tier, request_->key, outcome.latency_ms);

  DispatchResult result;
  result.tier = tier;
  result.reason = attempt.decision.reason;
  result.predicted_ms = attempt.decision.predicted_ms;
  result.latency_ms = (now - request_->start_us) / 1000.0;
  result.cold_start = cold_;
  result.response = std::move(response);
  done_(std::move(result));
}

bool Invocation::ClientGone() const {
  return request_->client_cancel && request_->client_cancel->cancelled();
}

std::string Invocation::CancelReason() const {
  return ClientGone() ? "its client went away, or the gateway is shutting down"
                      : "the hedged twin answered first";
}

void Invocation::Cancelled(const absl::Status& status) {
  const Tier tier = CurrentTier();
  context_.metrics.Count(request_->name, tier, status);
  if (!ClientGone()) {
    context_.metrics.hedge_cancelled.Add(InvocationMetrics::Labels(request_->name, tier))
        ->Increment();
  }
  if (Claim()) {
    done_(absl::CancelledError(absl::StrCat("invocation of '", request_->name, "' cancelled (",
                                            CancelReason(), "; tier ", std::string(TierName(tier)),
                                            "): ", status.message())));
  }
}

void Invocation::Fail(absl::Status status) {
  if (finished()) return;
  if (absl::IsCancelled(status) && cancel_ && cancel_->cancelled()) return Cancelled(status);
  const AttemptInfo attempt = CurrentAttempt();
  const int64_t now = context_.clock.NowMicros();
  const Tier tier = attempt.decision.tier;
  const bool tier_failure = IsTierFailure(status);
  // The executor's queue refused it: the tier is busy, not broken.
  const bool saturated = common::IsExecutorSaturated(status);
  context_.metrics.Count(request_->name, tier, status);
  context_.scheduler.Observe(request_->name, attempt.decision,
                             MakeOutcome(attempt, now, nullptr, tier_failure));
  context_.loaded.RecordFailure(tier, request_->key);
  if (saturated) context_.admission.ExecutorRefused(request_->name, tier);
  if ((tier_failure || saturated) && FailOver(status, now)) return;
  if (!Claim()) return;
  const std::string message = absl::StrCat("tier ", std::string(TierName(tier)), " (",
                                           context_.tiers.Describe(tier), "): ", status.message());
  done_(saturated ? common::WithRetryAfter(absl::UnavailableError(message), 1)
                  : absl::Status(status.code(), message));
}

bool Invocation::FailOver(const absl::Status& status, int64_t now_us) {
  if (request_->forced || role_ != Role::kPrimary) return false;
  if (request_->deadline_us - now_us < 1000) return false;  // no time for another attempt
  for (Tier other : scheduler::AllTiers()) {
    if (!request_->allowed.Contains(other) || tried_.Contains(other)) continue;
    spdlog::warn("tier {} failed for '{}' ({}); failing over to {}", TierName(CurrentTier()),
                 request_->name, status.ToString(), TierName(other));
    Attempt(scheduler::Decision(other, Reason::kFailover));
    return true;
  }
  return false;
}

void Invocation::TimedOut() {
  if (!Claim()) return;
  const AttemptInfo attempt = CurrentAttempt();
  const Tier tier = attempt.decision.tier;
  const absl::Status status = absl::DeadlineExceededError(
      absl::StrCat("function '", request_->name, "' did not complete within its deadline of ",
                   request_->timeout_ms, " ms (tier ", std::string(TierName(tier)), ")"));
  context_.metrics.Count(request_->name, tier, status);
  // The executor never answered: the tier (or its link) is what failed.
  context_.scheduler.Observe(request_->name, attempt.decision,
                             MakeOutcome(attempt, context_.clock.NowMicros(), nullptr, true));
  context_.loaded.RecordFailure(tier, request_->key);
  done_(status);
}

}  // namespace stoa::gateway
