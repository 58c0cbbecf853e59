#include "scheduler/latency_model.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "common/check.h"

namespace stoa::scheduler {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kResponseWeight = 0.2;
}  // namespace

std::string_view TermName(Term t) {
  switch (t) {
    case Term::kNet:
      return "net";
    case Term::kQueue:
      return "queue";
    case Term::kCold:
      return "cold";
    case Term::kExec:
      return "exec";
  }
  STOA_CHECK(false, "not a Term");
}

Prediction LatencyModel::Predict(const ModelInput& in, Objective objective) const {
  absl::ReaderMutexLock lock(&mu_);
  return PredictLocked(in, objective);
}

Prediction LatencyModel::PredictLocked(const ModelInput& in, Objective objective) const {
  Prediction p;
  if (observations_ == 0) return p;
  p.measured = true;
  p.observations = observations_;
  if (in.networked)
    p.terms[TermIndex(Term::kNet)] =
        net_.Predict(in.request_kb + response_kb_, in.link_rtt_ms, in.saturated);
  p.terms[TermIndex(Term::kQueue)] = queue_.Predict(in.ahead);
  if (!in.warm) p.terms[TermIndex(Term::kCold)] = cold_.Predict();
  p.terms[TermIndex(Term::kExec)] = exec_.Predict(in.batch, in.request_kb);
  double var = 0.0;
  for (const TermEstimate& t : p.terms) {
    p.mean_ms += t.mean_ms;
    double width = std::max(0.0, t.p95_ms - t.mean_ms);
    var += width * width;
  }
  // The last answer was far late: until the next one says otherwise, the
  // executor reports the tier faster, or (a networked tier outside a
  // saturated spell) a probe comes back at its usual round trip, a warm
  // run is expected to take as long.
  const double warm_ms = p.mean_ms - p.terms[TermIndex(Term::kCold)].mean_ms;
  const bool steady_since = in.networked && !in.saturated && in.steady_probe_us > late_at_us_;
  if (late_ms_ > warm_ms && in.reported_faster_us < late_at_us_ && !steady_since) {
    p.late_ms = late_ms_ - warm_ms;
    p.mean_ms += p.late_ms;
  }
  if (std::isfinite(in.overdue_ms) && in.overdue_ms > 0.0) {
    p.overdue_ms = in.overdue_ms;
    p.mean_ms += in.overdue_ms;
  }
  p.uncertainty_ms = std::sqrt(var);
  p.p95_ms = p.mean_ms + p.uncertainty_ms;
  p.ms = objective == Objective::kP95 ? p.p95_ms : p.mean_ms;
  return p;
}

TermErrors LatencyModel::Observe(const ModelInput& in, const Outcome& o) {
  TermErrors errors = {kNaN, kNaN, kNaN, kNaN};
  if (!std::isfinite(o.latency_ms) || !std::isfinite(o.load_ms) || !std::isfinite(o.server_ms)) {
    return errors;
  }
  const double latency = std::max(0.0, o.latency_ms);
  const double load = std::clamp(o.load_ms, 0.0, latency);
  double queue_ms = std::isfinite(o.queue_ms) ? std::max(0.0, o.queue_ms) : 0.0;
  double exec_ms;
  bool has_transfer = false;
  double transfer = 0.0;
  if (o.server_ms > 0.0) {
    // The executor reported its side: what is left is the network.
    double server = std::min(o.server_ms, latency);
    exec_ms = o.exec_ms > 0.0 ? o.exec_ms : std::max(0.0, server - load - queue_ms);
    transfer = latency - server;
    has_transfer = in.networked;
  } else {
    // No breakdown (e.g. an executor that does not report): all warm time
    // counts as execution.
    exec_ms = std::max(0.0, latency - load - queue_ms);
  }
  const double response_kb = o.response_bytes / 1000.0;

  absl::MutexLock lock(&mu_);
  // The warm latency this run was expected to take, before learning from it.
  double expected_ms = kNaN;
  if (observations_ > 0) {
    ModelInput warm = in;
    warm.warm = true;
    warm.overdue_ms = 0.0;
    const double late = std::exchange(late_ms_, 0.0);
    expected_ms = PredictLocked(warm, Objective::kMean).mean_ms;
    late_ms_ = late;
  }
  const double warm_latency = latency - load;
  const bool over = in.after_evidence && std::isfinite(expected_ms) &&
                    warm_latency < 0.25 * expected_ms && expected_ms - warm_latency >= 2.0 &&
                    SlowSpellLocked(warm_latency);
  if (has_transfer) {
    const double kb = in.request_kb + response_kb;
    const bool restart =
        over && FarBelow(transfer, net_.Predict(kb, in.link_rtt_ms, in.saturated).mean_ms);
    errors[TermIndex(Term::kNet)] =
        net_.Observe(kb, transfer, in.link_rtt_ms, restart, in.saturated);
  }
  errors[TermIndex(Term::kQueue)] = queue_.Observe(
      in.ahead, queue_ms, exec_ms, over && FarBelow(queue_ms, queue_.Predict(in.ahead).mean_ms));
  if (load > 0.0) errors[TermIndex(Term::kCold)] = cold_.Observe(load);
  const bool first_warm = load == 0.0 && exec_cold_only_;
  exec_cold_only_ = load > 0.0 && (exec_cold_only_ || exec_.Count() == 0);
  const double exec_expected = exec_.Predict(in.batch, in.request_kb).mean_ms;
  const bool slower = in.after_slower_evidence && std::isfinite(expected_ms) &&
                      FarAbove(warm_latency, expected_ms) && FarAbove(exec_ms, exec_expected);
  errors[TermIndex(Term::kExec)] = exec_.Observe(
      in.batch, in.request_kb, exec_ms,
      first_warm || slower || (over && FarBelow(exec_ms, exec_expected)), in.saturated);
  response_kb_ = observations_ == 0 ? response_kb
                                    : response_kb_ + kResponseWeight * (response_kb - response_kb_);
  late_ms_ = std::isfinite(expected_ms) && FarAbove(warm_latency, expected_ms) ? warm_latency : 0.0;
  late_at_us_ = in.now_us;
  recent_[observations_ % kRecent] = latency;
  ++observations_;
  last_latency_ms_ = latency;
  return errors;
}

bool LatencyModel::SlowSpellLocked(double fast_ms) const {
  const uint64_t n = std::min<uint64_t>(observations_, kRecent);
  std::vector<double> before;  // newest first, past the trailing fast ones
  for (uint64_t i = observations_; i > observations_ - n; --i) {
    const double ms = recent_[(i - 1) % kRecent];
    if (before.empty() && ms < 4.0 * fast_ms) continue;
    before.push_back(ms);
  }
  return before.empty() || fast_ms < 0.25 * LowerQuartile(std::move(before));
}

LatencyModel::Snapshot LatencyModel::Snap() const {
  absl::ReaderMutexLock lock(&mu_);
  Snapshot s;
  s.observations = observations_;
  const uint64_t n = std::min<uint64_t>(observations_, kRecent);
  for (uint64_t i = observations_ - n; i < observations_; ++i) {
    s.recent_ms.push_back(recent_[i % kRecent]);
  }
  s.last_latency_ms = last_latency_ms_;
  s.rtt_ms = net_.RttMs();
  s.ms_per_kb = net_.MsPerKb();
  s.service_ms = queue_.ServiceMs();
  s.cold_window = cold_.Window();
  s.cold_measured = cold_.Measured();
  s.exec_coefficients = exec_.Coefficients();
  const std::array<const ResidualStats*, kNumTerms> res = {&net_.residuals(), &queue_.residuals(),
                                                           &cold_.residuals(), &exec_.residuals()};
  for (int i = 0; i < kNumTerms; ++i) {
    s.mean_abs_error[i] = res[i]->MeanAbsError();
    s.last_error[i] = res[i]->LastError();
    s.term_observations[i] = res[i]->Count();
  }
  return s;
}

}  // namespace stoa::scheduler
