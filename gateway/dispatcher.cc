#include "gateway/dispatcher.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/check.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {

using scheduler::Reason;
using scheduler::Tier;
using scheduler::TierIndex;
using scheduler::TierName;
using scheduler::TierSet;

struct Dispatcher::Call {
  std::string name;
  std::string key;  // name@sha256
  v1::FunctionSpec spec;
  std::shared_ptr<const std::string> artifact;
  v1::InvokeRequest request;
  std::optional<Tier> forced;
  DispatchCallback done;
  // Hedged and shadow runs stay on their tier (no failover); shadow runs
  // report outcomes the scheduler learns from but does not count.
  bool may_fail_over = true;
  bool shadow = false;
  // Set for the runs of a hedged invocation: the winner cancels the loser.
  executors::CancelSignalPtr cancel;
  uint64_t request_bytes = 0;
  uint32_t batch = 1;
  uint32_t ahead = 0;  // queue depth + in-flight on the tier when sent
  int64_t start_us = 0;
  int64_t deadline_us = 0;
  uint32_t timeout_ms = 0;
  TierSet allowed;
  TierSet tried;

  // Written by the attempt chain, read by the watchdog.
  absl::Mutex mu;
  scheduler::Decision decision ABSL_GUARDED_BY(mu);
  int64_t attempt_start_us ABSL_GUARDED_BY(mu) = 0;

  // Only the attempt chain touches these (one executor call at a time).
  uint64_t load_us = 0;
  bool cold = false;
  bool reloaded = false;

  // The watchdog's entry for this call; guarded by the watchdog's mutex.
  std::multimap<absl::Time, std::weak_ptr<Call>>::iterator watch_entry;
  bool watched = false;

  std::atomic<bool> finished{false};
  // True for exactly one caller: the one that answers `done`.
  bool Claim() { return !finished.exchange(true); }

  scheduler::Decision CurrentDecision() {
    absl::MutexLock lock(&mu);
    return decision;
  }
  // The decision of the current attempt and when that attempt started.
  std::pair<scheduler::Decision, int64_t> CurrentAttempt() {
    absl::MutexLock lock(&mu);
    return {decision, attempt_start_us};
  }
};

// Answers calls whose executor has not come back shortly after their
// deadline (real time: it guards against executors that never answer).
class Dispatcher::Watchdog {
 public:
  explicit Watchdog(Dispatcher& dispatcher) : dispatcher_(dispatcher), thread_([this] { Run(); }) {}
  ~Watchdog() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  void Add(absl::Time due, const std::shared_ptr<Call>& call) {
    absl::MutexLock lock(&mu_);
    call->watch_entry = due_.emplace(due, call);
    call->watched = true;
  }

  // Drops the entry of a call that finished, so memory stays bounded by the
  // calls in flight.
  void Remove(Call& call) {
    absl::MutexLock lock(&mu_);
    if (call.watched) {
      due_.erase(call.watch_entry);
      call.watched = false;
    }
  }

 private:
  void Run() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      absl::Time next = due_.empty() ? absl::Now() + absl::Milliseconds(100) : due_.begin()->first;
      auto changed = [this, next]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (!due_.empty() && due_.begin()->first < next);
      };
      mu_.AwaitWithDeadline(absl::Condition(&changed), next);
      absl::Time now = absl::Now();
      while (!stopping_ && !due_.empty() && due_.begin()->first <= now) {
        std::shared_ptr<Call> call = due_.begin()->second.lock();
        due_.erase(due_.begin());
        if (call) call->watched = false;
        if (call && !call->finished.load()) {
          mu_.Unlock();
          dispatcher_.TimedOut(std::move(call));
          mu_.Lock();
        }
      }
    }
  }

  Dispatcher& dispatcher_;
  absl::Mutex mu_;
  std::multimap<absl::Time, std::weak_ptr<Call>> due_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Calls PollTiers every interval (real time) until destroyed.
class Dispatcher::StatusPoller {
 public:
  StatusPoller(Dispatcher& dispatcher, absl::Duration interval)
      : dispatcher_(dispatcher), interval_(interval), thread_([this] { Run(); }) {}
  ~StatusPoller() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

 private:
  void Run() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      mu_.Unlock();
      dispatcher_.PollTiers();
      mu_.Lock();
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
    }
  }

  Dispatcher& dispatcher_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

namespace {

bool IsTierFailure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

const char* OutcomeLabel(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return "ok";
    case absl::StatusCode::kInvalidArgument:
      return "invalid";
    case absl::StatusCode::kNotFound:
      return "not_found";
    case absl::StatusCode::kUnavailable:
      return "unavailable";
    case absl::StatusCode::kDeadlineExceeded:
      return "timeout";
    case absl::StatusCode::kCancelled:
      return "cancelled";
    default:
      return "error";
  }
}

std::string TierList(TierSet set) {
  std::string out;
  for (Tier t : scheduler::kAllTiers) {
    if (set.Contains(t)) absl::StrAppend(&out, out.empty() ? "" : ",", std::string(TierName(t)));
  }
  return out.empty() ? "none" : out;
}

}  // namespace

Dispatcher::Dispatcher(std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors,
                       scheduler::Scheduler& scheduler, const common::Clock& clock,
                       common::metrics::Registry& metrics, Options options)
    : executors_(std::move(executors)),
      scheduler_(scheduler),
      clock_(clock),
      options_(options),
      invocations_(metrics.AddCounter("stoa_invocations_total",
                                      "Invocation attempts by function, tier and outcome.")),
      duration_(metrics.AddHistogram("stoa_invocation_duration_seconds",
                                     "Latency of successful invocations seen by the gateway.")),
      cold_starts_(metrics.AddCounter("stoa_cold_starts_total",
                                      "Functions pushed to an executor that lacked them.")),
      hedge_cancelled_(metrics.AddCounter(
          "stoa_hedge_cancelled_total",
          "Losing runs of hedged invocations cancelled once the other tier answered.")) {
  auto& depth = metrics.AddGauge("stoa_executor_queue_depth",
                                 "Queue depth last reported by each tier's executor.");
  auto& rtt = metrics.AddGauge("stoa_tier_status_rtt_seconds",
                               "Round trip of the last GetStatus probe of each tier.");
  for (Tier t : scheduler::kAllTiers) {
    if (executors_[TierIndex(t)]) configured_.Add(t);
    queue_depth_[TierIndex(t)] = &depth.Add({{"tier", std::string(TierName(t))}});
    status_rtt_[TierIndex(t)] = &rtt.Add({{"tier", std::string(TierName(t))}});
  }
  watchdog_ = std::make_unique<Watchdog>(*this);
  if (options_.status_interval_ms > 0) {
    poller_ =
        std::make_unique<StatusPoller>(*this, absl::Milliseconds(options_.status_interval_ms));
  }
}

Dispatcher::~Dispatcher() {
  poller_.reset();
  {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ops_in_flight_ == 0; };
    mu_.Await(absl::Condition(&idle));
  }
  watchdog_.reset();
}

std::string Dispatcher::DescribeTier(Tier tier) const {
  const auto& e = executors_[TierIndex(tier)];
  return e ? e->Describe() : "";
}

void Dispatcher::BeginOp() {
  absl::MutexLock lock(&mu_);
  ++ops_in_flight_;
}

void Dispatcher::EndOp() {
  absl::MutexLock lock(&mu_);
  --ops_in_flight_;
}

void Dispatcher::PollTiers() {
  for (Tier t : scheduler::kAllTiers) {
    auto& executor = executors_[TierIndex(t)];
    if (!executor || polling_[TierIndex(t)].exchange(true)) continue;
    const int64_t start = clock_.NowMicros();
    BeginOp();
    executor->GetStatus([this, t, start](absl::StatusOr<v1::GetStatusResponse> status) {
      const double rtt_ms = (clock_.NowMicros() - start) / 1000.0;
      if (status.ok()) {
        reported_depth_[TierIndex(t)].store(status->queue_depth(), std::memory_order_relaxed);
        queue_depth_[TierIndex(t)]->Set(status->queue_depth());
        status_rtt_[TierIndex(t)]->Set(rtt_ms / 1000.0);
        scheduler_.ObserveLink(t, true, rtt_ms);
      } else {
        spdlog::debug("status of tier {} ({}): {}", TierName(t), DescribeTier(t),
                      status.status().ToString());
        scheduler_.ObserveLink(t, false, rtt_ms);
      }
      polling_[TierIndex(t)].store(false);
      EndOp();
    });
  }
}

bool Dispatcher::IsLoaded(Tier tier, const std::string& key) const {
  absl::ReaderMutexLock lock(&mu_);
  return loaded_[TierIndex(tier)].contains(key);
}

void Dispatcher::SetLoaded(Tier tier, const std::string& key, bool loaded) {
  absl::MutexLock lock(&mu_);
  if (loaded) {
    loaded_[TierIndex(tier)].insert(key);
  } else {
    loaded_[TierIndex(tier)].erase(key);
  }
}

void Dispatcher::Invoke(const StoredFunction& function, v1::InvokeRequest request,
                        std::optional<Tier> forced, DispatchCallback done) {
  auto call = std::make_shared<Call>();
  call->name = function.spec.name();
  call->key = absl::StrCat(function.spec.name(), "@", function.spec.sha256());
  call->spec = function.spec;
  call->artifact = function.artifact;
  request.set_function(function.spec.name());
  request.set_sha256(function.spec.sha256());
  call->request_bytes = request.raw().size();
  for (const auto& t : request.inputs()) call->request_bytes += t.raw().size();
  if (request.inputs_size() > 0 && request.inputs(0).shape_size() > 1) {
    call->batch = static_cast<uint32_t>(std::max<int64_t>(1, request.inputs(0).shape(0)));
  }
  call->request = std::move(request);
  call->forced = forced;
  call->done = std::move(done);
  call->timeout_ms = function.spec.limits().timeout_ms() > 0 ? function.spec.limits().timeout_ms()
                                                             : options_.default_timeout_ms;
  call->start_us = clock_.NowMicros();
  call->deadline_us = call->start_us + int64_t{call->timeout_ms} * 1000;
  Start(std::move(call));
}

void Dispatcher::Start(std::shared_ptr<Call> call) {
  TierSet spec_tiers;
  for (const std::string& name : call->spec.tiers()) {
    if (auto t = scheduler::ParseTier(name)) spec_tiers.Add(*t);
  }
  if (spec_tiers.Empty()) spec_tiers = TierSet::All();
  for (Tier t : scheduler::kAllTiers) {
    if (spec_tiers.Contains(t) && configured_.Contains(t)) call->allowed.Add(t);
  }

  scheduler::Features features;
  features.request_bytes = call->request_bytes;
  features.batch = call->batch;
  for (Tier t : scheduler::kAllTiers) {
    if (call->allowed.Contains(t) && IsLoaded(t, call->key)) features.warm.Add(t);
    features.in_flight[TierIndex(t)] = in_flight_[TierIndex(t)].load(std::memory_order_relaxed);
    features.queue_depth[TierIndex(t)] =
        reported_depth_[TierIndex(t)].load(std::memory_order_relaxed);
  }
  scheduler::Decision decision;
  if (call->forced) {
    Tier t = *call->forced;
    if (!spec_tiers.Contains(t)) {
      call->done(absl::InvalidArgumentError(
          absl::StrCat("function '", call->name, "' does not run on tier ",
                       std::string(TierName(t)), " (its tiers: ", TierList(spec_tiers), ")")));
      return;
    }
    if (!configured_.Contains(t)) {
      call->done(absl::UnavailableError(absl::StrCat(
          "tier ", std::string(TierName(t)),
          " is not configured on this gateway (configured: ", TierList(configured_), ")")));
      return;
    }
    decision = {t, Reason::kForced, scheduler_.PredictMs(call->name, t, features)};
  } else {
    if (call->allowed.Empty()) {
      call->done(absl::UnavailableError(
          absl::StrCat("no tier available for function '", call->name, "': it runs on ",
                       TierList(spec_tiers), ", this gateway has ", TierList(configured_))));
      return;
    }
    auto decided = scheduler_.Decide(call->name, call->allowed, features);
    if (!decided.ok()) {
      call->done(decided.status());
      return;
    }
    decision = *decided;
    if (!call->allowed.Contains(decision.tier)) {
      call->done(absl::InternalError(absl::StrCat("scheduler chose tier ",
                                                  std::string(TierName(decision.tier)),
                                                  ", which is not allowed")));
      return;
    }
  }
  {
    absl::MutexLock lock(&call->mu);
    call->decision = decision;
  }
  if (!decision.hedge.Empty() || !decision.shadow.Empty()) {
    StartGroup(std::move(call), decision);
    return;
  }
  Launch(std::move(call));
}

void Dispatcher::Launch(std::shared_ptr<Call> call) {
  watchdog_->Add(absl::Now() + absl::Milliseconds(call->timeout_ms + options_.watchdog_grace_ms),
                 call);
  RunOn(std::move(call));
}

// The runs of one hedged or shadow-measured invocation: the first
// successful answer of the primary or hedge run goes to the caller; when
// every run has finished, the latencies go to the scheduler as a comparison.
struct Dispatcher::Group {
  absl::Mutex mu;
  std::string function;
  Tier chosen = Tier::kEdge;
  DispatchCallback done;
  // Per tier, the cancel signal of its answering run (hedged groups).
  std::array<executors::CancelSignalPtr, scheduler::kNumTiers> cancel;
  std::array<double, scheduler::kNumTiers> latency_ms ABSL_GUARDED_BY(mu);
  int pending ABSL_GUARDED_BY(mu) = 0;
  int answering ABSL_GUARDED_BY(mu) = 0;  // primary + hedge runs not finished
  bool answered ABSL_GUARDED_BY(mu) = false;
};

void Dispatcher::StartGroup(std::shared_ptr<Call> call, const scheduler::Decision& decision) {
  auto group = std::make_shared<Group>();
  group->function = call->name;
  group->chosen = decision.tier;
  group->done = std::move(call->done);
  std::vector<std::shared_ptr<Call>> runs;
  call->may_fail_over = decision.hedge.Empty();
  runs.push_back(call);
  for (Tier t : scheduler::kAllTiers) {
    bool hedge = decision.hedge.Contains(t);
    if (t == decision.tier || (!hedge && !decision.shadow.Contains(t))) continue;
    auto extra = std::make_shared<Call>();
    extra->name = call->name;
    extra->key = call->key;
    extra->spec = call->spec;
    extra->artifact = call->artifact;
    extra->request = call->request;
    extra->request_bytes = call->request_bytes;
    extra->batch = call->batch;
    extra->start_us = call->start_us;
    extra->deadline_us = call->deadline_us;
    extra->timeout_ms = call->timeout_ms;
    extra->allowed = call->allowed;
    extra->may_fail_over = false;
    extra->shadow = !hedge;
    {
      absl::MutexLock lock(&extra->mu);
      extra->decision = scheduler::Decision(t, hedge ? Reason::kHedge : Reason::kForced);
    }
    runs.push_back(std::move(extra));
  }
  {
    absl::MutexLock lock(&group->mu);
    group->latency_ms.fill(std::numeric_limits<double>::quiet_NaN());
    group->pending = static_cast<int>(runs.size());
    for (const auto& run : runs) group->answering += run->shadow ? 0 : 1;
  }
  for (auto& run : runs) {
    Tier tier = run->CurrentDecision().tier;
    bool answers = !run->shadow;
    if (answers && !decision.hedge.Empty()) {
      run->cancel = std::make_shared<executors::CancelSignal>();
      group->cancel[TierIndex(tier)] = run->cancel;
    }
    run->done = [this, group, tier, answers](absl::StatusOr<DispatchResult> result) {
      FinishRun(group, tier, answers, std::move(result));
    };
  }
  for (auto& run : runs) Launch(std::move(run));
}

void Dispatcher::FinishRun(const std::shared_ptr<Group>& group, Tier tier, bool answers,
                           absl::StatusOr<DispatchResult> result) {
  bool deliver = false;
  bool compare = false;
  std::array<double, scheduler::kNumTiers> latency{};
  {
    absl::MutexLock lock(&group->mu);
    --group->pending;
    // A run that failed over reports the tier it ended on.
    if (result.ok() && result->tier == tier)
      group->latency_ms[TierIndex(tier)] = result->latency_ms;
    if (answers) {
      --group->answering;
      if (!group->answered && (result.ok() || group->answering == 0)) {
        group->answered = true;
        deliver = true;
      }
    }
    if (group->pending == 0) {
      compare = true;
      latency = group->latency_ms;
    }
  }
  if (deliver && result.ok()) {
    // The other answering runs lost: withdraw them.
    for (Tier t : scheduler::kAllTiers) {
      if (t != tier && group->cancel[TierIndex(t)]) group->cancel[TierIndex(t)]->Cancel();
    }
  }
  if (compare) scheduler_.ObserveComparison(group->function, group->chosen, latency);
  if (deliver) group->done(std::move(result));
}

void Dispatcher::RunOn(std::shared_ptr<Call> call) {
  Tier tier;
  {
    absl::MutexLock lock(&call->mu);
    tier = call->decision.tier;
    call->attempt_start_us = clock_.NowMicros();
  }
  call->tried.Add(tier);
  call->load_us = 0;
  call->cold = false;
  call->reloaded = false;
  if (IsLoaded(tier, call->key)) {
    DoInvoke(std::move(call));
  } else {
    Load(std::move(call));
  }
}

void Dispatcher::Load(std::shared_ptr<Call> call) {
  Tier tier = call->CurrentDecision().tier;
  if (clock_.NowMicros() >= call->deadline_us) {
    Fail(std::move(call), absl::DeadlineExceededError("deadline passed before loading"));
    return;
  }
  v1::LoadFunctionRequest request;
  *request.mutable_spec() = call->spec;
  request.set_artifact(*call->artifact);
  int64_t load_start = clock_.NowMicros();
  BeginOp();
  executors_[TierIndex(tier)]->LoadFunction(
      std::move(request),
      [this, call, tier, load_start](absl::StatusOr<v1::LoadFunctionResponse> loaded) mutable {
        if (loaded.ok()) {
          SetLoaded(tier, call->key, true);
          if (!loaded->already_loaded()) {
            cold_starts_.Add({{"function", call->name}, {"tier", std::string(TierName(tier))}})
                .Increment();
            absl::MutexLock lock(&mu_);
            stats_[call->key][TierIndex(tier)].cold_starts++;
          }
        }
        if (call->finished.load()) {
          EndOp();
          return;
        }
        if (!loaded.ok()) {
          Fail(call, absl::Status(loaded.status().code(),
                                  absl::StrCat("loading '", call->name,
                                               "': ", std::string(loaded.status().message()))));
        } else {
          uint64_t measured =
              static_cast<uint64_t>(std::max<int64_t>(0, clock_.NowMicros() - load_start));
          if (!loaded->already_loaded()) {
            call->cold = true;
            call->load_us += loaded->load_us() > 0 ? loaded->load_us() : measured;
          }
          DoInvoke(call);
        }
        EndOp();
      });
}

void Dispatcher::DoInvoke(std::shared_ptr<Call> call) {
  Tier tier = call->CurrentDecision().tier;
  int64_t remaining_us = call->deadline_us - clock_.NowMicros();
  if (remaining_us <= 0) {
    Fail(std::move(call), absl::DeadlineExceededError("deadline passed before invoking"));
    return;
  }
  if (call->cancel && call->cancel->cancelled()) {
    Fail(std::move(call), absl::CancelledError("the hedged twin answered first"));
    return;
  }
  v1::InvokeRequest request = call->request;
  request.set_timeout_ms(static_cast<uint32_t>(std::max<int64_t>(1, remaining_us / 1000)));
  call->ahead = reported_depth_[TierIndex(tier)].load(std::memory_order_relaxed) +
                in_flight_[TierIndex(tier)].fetch_add(1, std::memory_order_relaxed);
  BeginOp();
  executors_[TierIndex(tier)]->Invoke(
      std::move(request),
      [this, call, tier](absl::StatusOr<v1::InvokeResponse> result) mutable {
        in_flight_[TierIndex(tier)].fetch_sub(1, std::memory_order_relaxed);
        if (!call->finished.load()) {
          if (result.ok()) {
            Succeed(call, *std::move(result));
          } else if (result.status().code() == absl::StatusCode::kNotFound && !call->reloaded) {
            // The executor lost the function (restarted): push it again, once.
            spdlog::info("{} lost '{}' on tier {}; reloading", DescribeTier(tier), call->name,
                         TierName(tier));
            call->reloaded = true;
            SetLoaded(tier, call->key, false);
            Load(call);
          } else {
            Fail(call, result.status());
          }
        }
        EndOp();
      },
      call->cancel);
}

bool Dispatcher::ClaimAnswer(Call& call) {
  if (!call.Claim()) return false;
  watchdog_->Remove(call);
  return true;
}

void Dispatcher::Count(const std::string& function, Tier tier, const char* outcome) {
  invocations_
      .Add({{"function", function}, {"tier", std::string(TierName(tier))}, {"outcome", outcome}})
      .Increment();
}

void Dispatcher::Fail(std::shared_ptr<Call> call, absl::Status status) {
  if (call->finished.load()) return;
  if (absl::IsCancelled(status) && call->cancel && call->cancel->cancelled()) {
    // The losing run of a hedge: no failure, nothing learned.
    Tier tier = call->CurrentDecision().tier;
    Count(call->name, tier, "cancelled");
    hedge_cancelled_.Add({{"function", call->name}, {"tier", std::string(TierName(tier))}})
        .Increment();
    if (!ClaimAnswer(*call)) return;
    call->done(std::move(status));
    return;
  }
  auto [decision, attempt_start] = call->CurrentAttempt();
  int64_t now = clock_.NowMicros();
  bool tier_failure = IsTierFailure(status);
  Count(call->name, decision.tier, OutcomeLabel(status));
  scheduler::Outcome outcome;
  outcome.tier = decision.tier;
  outcome.ok = false;
  outcome.tier_failure = tier_failure;
  outcome.latency_ms = (now - attempt_start) / 1000.0;
  outcome.load_ms = call->load_us / 1000.0;
  outcome.request_bytes = call->request_bytes;
  outcome.shadow = call->shadow;
  scheduler_.Observe(call->name, decision, outcome);
  {
    absl::MutexLock lock(&mu_);
    stats_[call->key][TierIndex(decision.tier)].failures++;
  }

  if (tier_failure && !call->forced && call->may_fail_over) {
    for (Tier other : scheduler::kAllTiers) {
      if (!call->allowed.Contains(other) || call->tried.Contains(other)) continue;
      if (call->deadline_us - now < 1000) break;  // no time left for another attempt
      spdlog::warn("tier {} failed for '{}' ({}); failing over to {}", TierName(decision.tier),
                   call->name, status.ToString(), TierName(other));
      {
        absl::MutexLock lock(&call->mu);
        call->decision = {other, Reason::kFailover, 0.0};
      }
      RunOn(std::move(call));
      return;
    }
  }
  if (!ClaimAnswer(*call)) return;
  call->done(absl::Status(status.code(), absl::StrCat("tier ", std::string(TierName(decision.tier)),
                                                      " (", DescribeTier(decision.tier),
                                                      "): ", std::string(status.message()))));
}

void Dispatcher::Succeed(std::shared_ptr<Call> call, v1::InvokeResponse response) {
  if (!ClaimAnswer(*call)) return;
  auto [decision, attempt_start] = call->CurrentAttempt();
  int64_t now = clock_.NowMicros();
  response.set_load_us(call->load_us);
  DispatchResult result;
  result.tier = decision.tier;
  result.reason = decision.reason;
  result.predicted_ms = decision.predicted_ms;
  result.latency_ms = (now - call->start_us) / 1000.0;
  result.cold_start = call->cold;

  scheduler::Outcome outcome;
  outcome.tier = decision.tier;
  outcome.ok = true;
  outcome.latency_ms = (now - attempt_start) / 1000.0;
  outcome.server_ms = (response.queue_us() + response.load_us() + response.exec_us()) / 1000.0;
  outcome.load_ms = call->load_us / 1000.0;
  outcome.queue_ms = response.queue_us() / 1000.0;
  outcome.exec_ms = response.exec_us() / 1000.0;
  outcome.request_bytes = call->request_bytes;
  outcome.batch = call->batch;
  outcome.ahead = call->ahead;
  outcome.shadow = call->shadow;
  for (const auto& t : response.outputs()) outcome.response_bytes += t.raw().size();
  outcome.response_bytes += response.raw().size();
  scheduler_.Observe(call->name, decision, outcome);

  Count(call->name, decision.tier, "ok");
  std::string tier_name(TierName(decision.tier));
  duration_.Add({{"function", call->name}, {"tier", tier_name}}).Observe(outcome.latency_ms / 1e3);
  queue_depth_[TierIndex(decision.tier)]->Set(response.queue_depth());
  reported_depth_[TierIndex(decision.tier)].store(response.queue_depth(),
                                                  std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mu_);
    TierStats& s = stats_[call->key][TierIndex(decision.tier)];
    s.invocations++;
    s.mean_latency_ms += (outcome.latency_ms - s.mean_latency_ms) / s.invocations;
  }
  result.response = std::move(response);
  call->done(std::move(result));
}

void Dispatcher::TimedOut(std::shared_ptr<Call> call) {
  if (!call->Claim()) return;
  scheduler::Decision decision = call->CurrentDecision();
  Count(call->name, decision.tier, "timeout");
  scheduler::Outcome outcome;
  outcome.tier = decision.tier;
  outcome.ok = false;
  outcome.tier_failure = true;
  outcome.latency_ms = call->timeout_ms;
  outcome.request_bytes = call->request_bytes;
  scheduler_.Observe(call->name, decision, outcome);
  {
    absl::MutexLock lock(&mu_);
    stats_[call->key][TierIndex(decision.tier)].failures++;
  }
  call->done(absl::DeadlineExceededError(
      absl::StrCat("function '", call->name, "' did not complete within its deadline of ",
                   call->timeout_ms, " ms (tier ", std::string(TierName(decision.tier)), ")")));
}

void Dispatcher::Forget(const std::string& function, const std::string& sha256) {
  std::string prefix = absl::StrCat(function, "@");
  std::string exact = absl::StrCat(prefix, sha256);
  auto matches = [&](const std::string& key) {
    return sha256.empty() ? absl::StartsWith(key, prefix) : key == exact;
  };
  {
    absl::MutexLock lock(&mu_);
    for (auto& set : loaded_) absl::erase_if(set, matches);
    absl::erase_if(stats_, [&](const auto& kv) { return matches(kv.first); });
  }
  scheduler_.Forget(function);
  for (Tier t : scheduler::kAllTiers) {
    auto& executor = executors_[TierIndex(t)];
    if (!executor) continue;
    v1::UnloadFunctionRequest request;
    request.set_function(function);
    request.set_sha256(sha256);
    BeginOp();
    executor->UnloadFunction(std::move(request),
                             [this, function, t](absl::StatusOr<v1::UnloadFunctionResponse> r) {
                               if (!r.ok()) {
                                 spdlog::warn("unloading '{}' from tier {}: {}", function,
                                              TierName(t), r.status().ToString());
                               }
                               EndOp();
                             });
  }
}

std::array<TierStats, scheduler::kNumTiers> Dispatcher::Stats(const std::string& function,
                                                              const std::string& sha256) const {
  std::string key = absl::StrCat(function, "@", sha256);
  std::array<TierStats, scheduler::kNumTiers> out{};
  absl::ReaderMutexLock lock(&mu_);
  if (auto it = stats_.find(key); it != stats_.end()) out = it->second;
  for (Tier t : scheduler::kAllTiers) {
    out[TierIndex(t)].configured = configured_.Contains(t);
    out[TierIndex(t)].loaded = loaded_[TierIndex(t)].contains(key);
  }
  return out;
}

}  // namespace stoa::gateway
