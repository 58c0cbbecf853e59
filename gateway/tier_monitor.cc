#include "gateway/tier_monitor.h"

#include <thread>

#include "common/guarded.h"
#include "scheduler/latency_terms.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {

using scheduler::Tier;
using scheduler::TierClassName;
using scheduler::TierIndex;
using scheduler::TierName;

// Calls ProbeAll every interval (real time) until destroyed.
class TierMonitor::Prober {
 public:
  Prober(TierMonitor& monitor, absl::Duration interval)
      : monitor_(monitor), interval_(interval), thread_([this] { Run(); }) {}
  ~Prober() {
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
      common::RunLogged("tier monitor probe", [this] { monitor_.ProbeAll(); });
      mu_.Lock();
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
    }
  }

  TierMonitor& monitor_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

TierMonitor::TierMonitor(std::array<executors::Executor*, scheduler::kNumTiers> executors,
                         scheduler::Scheduler& scheduler, const common::Clock& clock,
                         common::metrics::Registry& metrics, Options options)
    : executors_(executors),
      queued_work_(options.queued_work),
      scheduler_(scheduler),
      clock_(clock) {
  auto& depth = metrics.AddGauge("stoa_executor_queue_depth",
                                 "Queue depth last reported by each tier's executor.");
  auto& rtt = metrics.AddGauge("stoa_tier_status_rtt_seconds",
                               "Round trip of the last GetStatus probe of each tier.");
  for (Tier t : scheduler::AllTiers()) {
    if (executors_[TierIndex(t)]) configured_.Add(t);
    tiers_[TierIndex(t)].depth_gauge =
        depth.Add({{"tier", std::string(TierClassName(t))}, {"target", std::string(TierName(t))}});
    tiers_[TierIndex(t)].rtt_gauge =
        rtt.Add({{"tier", std::string(TierClassName(t))}, {"target", std::string(TierName(t))}});
  }
  if (options.status_interval_ms > 0) {
    prober_ = std::make_unique<Prober>(*this, absl::Milliseconds(options.status_interval_ms));
  }
}

TierMonitor::~TierMonitor() {
  prober_.reset();
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_in_flight_ == 0; };
  mu_.Await(absl::Condition(&idle));
}

std::string TierMonitor::Describe(Tier tier) const {
  const executors::Executor* e = executor(tier);
  return e ? e->Describe() : "";
}

TierHealth TierMonitor::Health(Tier tier) const {
  const PerTier& s = tiers_[TierIndex(tier)];
  TierHealth h;
  h.configured = configured_.Contains(tier);
  h.executor = Describe(tier);
  h.in_flight = s.in_flight.load(std::memory_order_relaxed);
  h.reported_depth = s.reported_depth.load(std::memory_order_relaxed);
  h.workers = s.workers.load(std::memory_order_relaxed);
  h.last_probe = static_cast<TierHealth::Probe>(s.last_probe.load(std::memory_order_relaxed));
  h.last_probe_rtt_ms = s.last_rtt_ms.load(std::memory_order_relaxed);
  h.queued_async = queued_work_ ? queued_work_->Share(tier) : 0.0;
  return h;
}

void TierMonitor::FillFeatures(scheduler::Features& features) const {
  const int64_t now = clock_.NowMicros();
  for (Tier t : scheduler::AllTiers()) {
    const PerTier& s = tiers_[TierIndex(t)];
    features.in_flight[TierIndex(t)] = s.in_flight.load(std::memory_order_relaxed);
    {
      absl::MutexLock lock(&s.due_mu);
      const int64_t first_due = s.due.empty() ? now : *s.due.begin();
      features.overdue_ms[TierIndex(t)] = first_due < now ? (now - first_due) / 1000.0 : 0.0;
    }
    features.queue_depth[TierIndex(t)] = s.reported_depth.load(std::memory_order_relaxed);
    // Async events that will be dispatched here: work ahead that no
    // executor reports yet (the event being placed is no longer counted).
    if (queued_work_) features.queue_depth[TierIndex(t)] += queued_work_->Depth(t);
  }
}

int64_t TierMonitor::DueMicros(int64_t start_us, double predicted_ms) {
  if (!(predicted_ms > 0.0)) return 0;
  return start_us + static_cast<int64_t>(scheduler::FarLateMs(predicted_ms) * 1000.0);
}

uint32_t TierMonitor::CallStarted(Tier tier, CallKind kind, int64_t due_us) {
  {
    absl::MutexLock lock(&mu_);
    ++calls_in_flight_;
  }
  if (kind != CallKind::kInvoke) return 0;
  PerTier& s = tiers_[TierIndex(tier)];
  if (due_us > 0) {
    absl::MutexLock lock(&s.due_mu);
    s.due.insert(due_us);
  }
  return s.reported_depth.load(std::memory_order_relaxed) +
         s.in_flight.fetch_add(1, std::memory_order_relaxed);
}

void TierMonitor::CallEnded(Tier tier, CallKind kind, int64_t due_us) {
  if (kind == CallKind::kInvoke) {
    PerTier& s = tiers_[TierIndex(tier)];
    s.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (due_us > 0) {
      absl::MutexLock lock(&s.due_mu);
      if (auto it = s.due.find(due_us); it != s.due.end()) s.due.erase(it);
    }
  }
  absl::MutexLock lock(&mu_);
  --calls_in_flight_;
}

void TierMonitor::ReportDepth(Tier tier, uint32_t depth) {
  PerTier& s = tiers_[TierIndex(tier)];
  s.reported_depth.store(depth, std::memory_order_relaxed);
  s.depth_gauge->Set(depth);
}

void TierMonitor::ProbeAll() {
  for (Tier t : scheduler::AllTiers()) {
    if (!executor(t)) continue;
    PerTier& s = tiers_[TierIndex(t)];
    if (s.probing.exchange(true)) {
      s.missed.store(true);
      continue;
    }
    ProbeTier(t);
  }
}

void TierMonitor::ProbeTier(Tier t) {
  const int64_t start = clock_.NowMicros();
  CallStarted(t, CallKind::kControl);
  executor(t)->GetStatus([this, t, start](absl::StatusOr<v1::GetStatusResponse> status) {
    common::RunLogged("tier monitor probe answer", [&] {
      const double rtt_ms = (clock_.NowMicros() - start) / 1000.0;
      if (!status.ok()) {
        spdlog::debug("status of tier {} ({}): {}", TierName(t), Describe(t),
                      status.status().ToString());
      }
      ProbeDone(t, rtt_ms, status);
    });
    // The round that found this probe in flight: its probe now (counted
    // before this one ends, so the destructor waits for it too).
    PerTier& s = tiers_[TierIndex(t)];
    if (s.missed.exchange(false) && !s.probing.exchange(true)) ProbeTier(t);
    CallEnded(t, CallKind::kControl);
  });
}

void TierMonitor::ProbeDone(Tier tier, double rtt_ms,
                            const absl::StatusOr<v1::GetStatusResponse>& status) {
  PerTier& s = tiers_[TierIndex(tier)];
  if (status.ok()) {
    ReportDepth(tier, status->queue_depth());
    if (status->threads() > 0) s.workers.store(status->threads(), std::memory_order_relaxed);
    s.rtt_gauge->Set(rtt_ms / 1000.0);
    s.last_rtt_ms.store(rtt_ms, std::memory_order_relaxed);
  }
  s.last_probe.store(
      static_cast<int>(status.ok() ? TierHealth::Probe::kOk : TierHealth::Probe::kFailed),
      std::memory_order_relaxed);
  scheduler_.ObserveLink(tier, status.ok(), rtt_ms);
  if (status.ok()) {
    scheduler_.ObserveCpuQuota(tier, status->cpu_quota_cores());
    scheduler_.ObserveCpuThrottle(tier, status->cpu_throttled(), status->cpu_used_cores());
  }
  s.probing.store(false);
}

}  // namespace stoa::gateway
