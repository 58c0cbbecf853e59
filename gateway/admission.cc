#include "gateway/admission.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/overload.h"

namespace stoa::gateway {

using scheduler::Tier;
using scheduler::TierClassName;
using scheduler::TierIndex;
using scheduler::TierName;

namespace {

constexpr double kEwmaAlpha = 0.3;
constexpr uint32_t kQueuePerWorker = 4;

double Ewma(double old, double sample) {
  return old <= 0.0 ? sample : kEwmaAlpha * sample + (1 - kEwmaAlpha) * old;
}

std::string Ms(double ms) { return absl::StrCat(static_cast<int64_t>(std::ceil(ms))); }

}  // namespace

Admission::Admission(const common::Clock& clock, common::metrics::Registry& metrics,
                     Options options)
    : clock_(clock),
      options_(options),
      refusals_(metrics.AddCounter(
          "stoa_admission_refusals_total",
          "Invocations refused before running, by function, tier class, target and reason "
          "(max_concurrency, queue_full, queue_wait).")) {}

absl::Status Admission::AcquireFunction(const std::string& function, uint32_t max_concurrency) {
  double retry_ms = std::numeric_limits<double>::infinity();
  {
    absl::MutexLock lock(&mu_);
    PerFunction& f = functions_[function];
    if (max_concurrency == 0 || f.in_flight < max_concurrency) {
      ++f.in_flight;
      return absl::OkStatus();
    }
    for (double ms : f.run_ms) {
      if (ms > 0) retry_ms = std::min(retry_ms, ms);
    }
  }
  Count(function, "", "", "max_concurrency");
  return common::WithRetryAfter(absl::ResourceExhaustedError(absl::StrCat(
                                    "function '", function, "' is at its concurrency limit of ",
                                    max_concurrency, " (limits.max_concurrency)")),
                                common::RetryAfterFromMs(std::isinf(retry_ms) ? 0.0 : retry_ms));
}

void Admission::ReleaseFunction(const std::string& function) {
  absl::MutexLock lock(&mu_);
  auto it = functions_.find(function);
  if (it == functions_.end()) return;
  if (it->second.in_flight > 0) --it->second.in_flight;
  if (it->second.in_flight == 0 && it->second.forgotten) functions_.erase(it);
}

uint32_t Admission::Limit(const TierLoad& load) const {
  if (options_.max_queue_per_tier > 0) return options_.max_queue_per_tier;
  return kQueuePerWorker * std::max<uint32_t>(1, load.workers);
}

Admission::Queue Admission::QueueAt(Tier tier, uint32_t admitted, const TierLoad& load) const {
  const PerTier& t = tiers_[TierIndex(tier)];
  const uint32_t workers = std::max<uint32_t>(1, load.workers);
  Queue q;
  q.admitted = admitted;
  q.queued = std::max(q.admitted > workers ? q.admitted - workers : 0u, load.reported_depth);
  q.limit = Limit(load);
  q.saturated = q.queued >= q.limit ||
                clock_.NowMicros() - t.last_wait_refusal_us.load(std::memory_order_relaxed) <
                    kWaitRefusalWindowUs;
  return q;
}

Admission::Verdict Admission::JudgeTier(Tier tier, uint32_t admitted, const TierLoad& load,
                                        double run_ms, double remaining_ms) const {
  const PerTier& t = tiers_[TierIndex(tier)];
  const uint32_t workers = std::max<uint32_t>(1, load.workers);
  const Queue q = QueueAt(tier, admitted, load);
  const bool worker_free = q.admitted < workers && load.reported_depth == 0;
  Verdict v;
  if (!worker_free) {
    const double rounds = std::ceil(static_cast<double>(q.queued + 1) / workers);
    const double work_ms = t.work_us.load(std::memory_order_relaxed) / 1000.0;
    v.wait_ms = std::max(rounds * t.service_ms.load(std::memory_order_relaxed), work_ms / workers);
  }
  const std::string name = absl::StrCat("tier '", std::string(TierName(tier)), "'");
  if (q.queued >= q.limit) {
    v.open = false;
    v.reason = "queue_full";
    v.message = absl::StrCat(name, " is saturated: ", q.queued, " queued for ", workers,
                             " workers; the limit is ", q.limit, " queued (tier queue limit)");
  } else if (v.wait_ms > 0 && v.wait_ms + run_ms > remaining_ms) {
    v.open = false;
    v.reason = "queue_wait";
    v.message =
        absl::StrCat(name, " is saturated: a predicted wait of ", Ms(v.wait_ms),
                     " ms plus a run of ", Ms(run_ms), " ms exceeds the ",
                     Ms(std::max(0.0, remaining_ms)), " ms left of the deadline (tier queue wait)");
  }
  return v;
}

double Admission::RunMs(const std::string& function, Tier tier) const {
  absl::MutexLock lock(&mu_);
  auto it = functions_.find(function);
  return it == functions_.end() ? 0.0 : it->second.run_ms[TierIndex(tier)];
}

Admission::Verdicts Admission::Judge(const std::string& function, scheduler::TierSet tiers,
                                     double remaining_ms, const Loads& loads) {
  Verdicts verdicts;
  for (Tier t : scheduler::AllTiers()) {
    if (!tiers.Contains(t)) continue;
    verdicts[TierIndex(t)] =
        JudgeTier(t, tiers_[TierIndex(t)].admitted.load(std::memory_order_relaxed),
                  loads[TierIndex(t)], RunMs(function, t), remaining_ms);
  }
  return verdicts;
}

absl::Status Admission::Refuse(const std::string& function, scheduler::TierSet tiers,
                               const Verdicts& verdicts) {
  std::string message = absl::StrCat("function '", function, "' was refused: ");
  double retry_ms = std::numeric_limits<double>::infinity();
  bool first = true;
  for (Tier t : scheduler::AllTiers()) {
    const Verdict& v = verdicts[TierIndex(t)];
    if (!tiers.Contains(t) || v.open) continue;
    absl::StrAppend(&message, first ? "" : "; ", v.message);
    first = false;
    retry_ms = std::min(retry_ms, v.wait_ms);
    RefusedOn(function, t, v.reason, /*saturates=*/v.reason == "queue_wait");
  }
  return common::WithRetryAfter(absl::UnavailableError(message),
                                common::RetryAfterFromMs(std::isinf(retry_ms) ? 0.0 : retry_ms));
}

bool Admission::Reserve(const std::string& function, Tier tier, double remaining_ms,
                        const TierLoad& load, Verdict* refusal, double* work_ms) {
  PerTier& t = tiers_[TierIndex(tier)];
  const double run_ms = RunMs(function, tier);
  *work_ms = run_ms > 0 ? run_ms : t.service_ms.load(std::memory_order_relaxed);
  uint32_t admitted = t.admitted.load(std::memory_order_relaxed);
  while (true) {
    Verdict v = JudgeTier(tier, admitted, load, run_ms, remaining_ms);
    if (!v.open) {
      *refusal = std::move(v);
      return false;
    }
    if (t.admitted.compare_exchange_weak(admitted, admitted + 1, std::memory_order_relaxed)) {
      t.work_us.fetch_add(static_cast<int64_t>(*work_ms * 1000), std::memory_order_relaxed);
      return true;
    }
  }
}

void Admission::Release(Tier tier, const std::string& function, double work_ms, double run_ms) {
  PerTier& t = tiers_[TierIndex(tier)];
  t.admitted.fetch_sub(1, std::memory_order_relaxed);
  t.work_us.fetch_sub(static_cast<int64_t>(work_ms * 1000), std::memory_order_relaxed);
  if (run_ms <= 0) return;
  t.service_ms.store(Ewma(t.service_ms.load(std::memory_order_relaxed), run_ms),
                     std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  auto it = functions_.find(function);
  if (it == functions_.end()) return;
  double& ms = it->second.run_ms[TierIndex(tier)];
  ms = Ewma(ms, run_ms);
}

void Admission::ExecutorRefused(const std::string& function, Tier tier) {
  RefusedOn(function, tier, "executor", /*saturates=*/true);
}

void Admission::RefusedOn(const std::string& function, Tier tier, const std::string& reason,
                          bool saturates) {
  Count(function, std::string(TierClassName(tier)), std::string(TierName(tier)), reason);
  if (saturates) {
    tiers_[TierIndex(tier)].last_wait_refusal_us.store(clock_.NowMicros(),
                                                       std::memory_order_relaxed);
  }
}

void Admission::Forget(const std::string& function) {
  {
    absl::MutexLock lock(&mu_);
    auto it = functions_.find(function);
    // An invocation still in flight keeps its slot count until it ends.
    if (it != functions_.end()) {
      if (it->second.in_flight == 0) {
        functions_.erase(it);
      } else {
        it->second.run_ms = {};
        it->second.forgotten = true;
      }
    }
  }
  refusals_.RemoveMatching("function", function);
}

void Admission::Count(const std::string& function, std::string tier, std::string target,
                      const std::string& reason) {
  refusals_
      .Add({{"function", function},
            {"tier", std::move(tier)},
            {"target", std::move(target)},
            {"reason", reason}})
      ->Increment();
}

}  // namespace stoa::gateway
