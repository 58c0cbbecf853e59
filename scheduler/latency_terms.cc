#include "scheduler/latency_terms.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "Eigen/Dense"

namespace stoa::scheduler {
namespace {

constexpr double kMaeWeight = 0.1;
constexpr double kWindowErrorWeight = 0.2;
constexpr double kServiceWeight = 0.2;

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double hi = v[mid];
  if (v.size() % 2 == 1) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + mid);
  return (lo + hi) / 2;
}

}  // namespace

double LowerQuartile(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const auto q = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 4);
  std::nth_element(v.begin(), q, v.end());
  return *q;
}

bool FarBelow(double actual_ms, double predicted_ms) {
  return actual_ms < 0.5 * predicted_ms && predicted_ms - actual_ms >= 2.0;
}

bool FarAbove(double actual_ms, double predicted_ms) { return actual_ms > FarLateMs(predicted_ms); }

void ResidualStats::Add(double error_ms) {
  if (!std::isfinite(error_ms)) return;
  mae_ = q95_.Count() == 0 ? std::fabs(error_ms) : mae_ + kMaeWeight * (std::fabs(error_ms) - mae_);
  last_ = error_ms;
  q95_.Add(error_ms);
}

TermEstimate ResidualStats::Around(double mean_ms) const {
  double up = q95_.Count() == 0 ? 0.0 : std::max(0.0, q95_.Value());
  return {mean_ms, mean_ms + up};
}

void ResidualStats::Reset() {
  q95_.Reset();
  mae_ = 0.0;
  last_ = 0.0;
}

bool NetTerm::LinkMoved(double link_rtt_ms) const {
  return std::isfinite(link_rtt_ms) && std::isfinite(link_last_ms_) &&
         std::fabs(link_rtt_ms - link_last_ms_) > 0.1 * link_last_ms_ + 2.0;
}

TermEstimate NetTerm::Predict(double kilobytes, double link_rtt_ms, bool hold_level) const {
  if (full_.Count() == 0) return {};
  const double fit = full_.Predict(kilobytes);
  double mean = fit;
  if (LinkMoved(link_rtt_ms) && excess_.Count() > 0) {
    const double probed = link_rtt_ms + excess_.Predict(kilobytes);
    mean = hold_level ? std::max(fit, probed) : probed;
  }
  return residuals_.Around(std::max(0.0, mean));
}

double NetTerm::Observe(double kilobytes, double transfer_ms, double link_rtt_ms, bool start_over,
                        bool hold_level) {
  const double predicted = Predict(kilobytes, link_rtt_ms, hold_level).mean_ms;
  double err = transfer_ms - predicted;
  fast_run_ =
      FarBelow(transfer_ms, predicted) || BackAtTheProbe(transfer_ms, predicted, link_rtt_ms)
          ? fast_run_ + 1
          : 0;
  const bool hold = hold_level && !start_over;
  if (LinkMoved(link_rtt_ms) && !hold) {
    full_.Reopen();  // the link changed while nothing was sent: start over
    change_.Reset();
  } else if (start_over || fast_run_ >= (hold ? kLongFastRun : kFastRun)) {
    full_.Reopen();  // the slow spell is over: follow the fast transfers now
    excess_.Reopen();
    change_.Reset();
    fast_run_ = 0;
  } else if (full_.Count() > 5) {
    double sigma = residuals_.MeanAbsError() + 0.0125 * std::fabs(full_.Intercept()) + 0.25;
    if (change_.Add(err, sigma)) {
      if (hold && err < 0.0) {
        change_.Reset();  // lower inside a saturated spell: a lucky slice
      } else {
        full_.Reopen();
        excess_.Reopen();
      }
    }
  }
  if (full_.Count() > 0) residuals_.Add(err);
  full_.Add(kilobytes, transfer_ms);
  if (std::isfinite(link_rtt_ms)) {
    if (!hold) excess_.Add(kilobytes, transfer_ms - link_rtt_ms);
    link_last_ms_ = link_rtt_ms;
  }
  return err;
}

bool NetTerm::BackAtTheProbe(double transfer_ms, double predicted_ms, double link_rtt_ms) {
  if (!std::isfinite(link_rtt_ms) || link_rtt_ms < 0.0) return false;
  return transfer_ms <= 1.25 * link_rtt_ms + 2.0 && predicted_ms >= 1.5 * link_rtt_ms + 2.0;
}

TermEstimate QueueTerm::Predict(double ahead) const {
  if (count_ == 0) return {};
  return residuals_.Around(std::max(0.0, idle_ms_ + slope_ * std::max(0.0, ahead) * service_ms_));
}

void QueueTerm::Restart() {
  sxx_ = sxy_ = 0.0;
  idle_ms_ = 0.0;  // until the next wait with nobody ahead sets it
  has_idle_ = false;
  change_.Reset();
}

double QueueTerm::Observe(double ahead, double queue_ms, double exec_ms, bool start_over) {
  const TermEstimate before = Predict(ahead);
  double err = queue_ms - before.mean_ms;
  fast_run_ = FarBelow(queue_ms, before.mean_ms) ? fast_run_ + 1 : 0;
  if (start_over || fast_run_ >= kFastRun) {
    // The queue drained (a loaded spell ended): start over from the waits
    // and service time of now instead of decaying from the spell's.
    Restart();
    fast_run_ = 0;
    if (std::isfinite(exec_ms) && exec_ms >= 0) service_ms_ = exec_ms;
  } else if (count_ > 5 &&
             change_.Add(err, residuals_.MeanAbsError() + 0.02 * before.mean_ms + 0.25)) {
    Restart();  // the executor's parallelism or load changed
  }
  if (count_ > 0) residuals_.Add(err);
  ++count_;
  const double x = std::max(0.0, ahead) * service_ms_;
  if (x > 0.0) {
    sxx_ = kForget * sxx_ + x * x;
    sxy_ = kForget * sxy_ + x * (queue_ms - idle_ms_);
    slope_ = std::max(0.0, sxy_ / sxx_);
  } else {
    idle_ms_ = has_idle_ ? idle_ms_ + kServiceWeight * (queue_ms - idle_ms_) : queue_ms;
    has_idle_ = true;
  }
  if (std::isfinite(exec_ms) && exec_ms >= 0) {
    service_ms_ = has_service_ ? service_ms_ + kServiceWeight * (exec_ms - service_ms_) : exec_ms;
    has_service_ = true;
  }
  return err;
}

double ColdTerm::MedianOfLast(int w) const {
  int n = std::min<int>(w, static_cast<int>(samples_.size()));
  return Median(std::vector<double>(samples_.end() - n, samples_.end()));
}

TermEstimate ColdTerm::Predict() const {
  if (samples_.empty()) return {kDefaultMs, kDefaultMs};
  return residuals_.Around(MedianOfLast(Window()));
}

double ColdTerm::Observe(double load_ms) {
  const double predicted = Predict().mean_ms;
  double err = load_ms - predicted;
  if (samples_.size() >= 3 &&
      change_.Add(err, residuals_.MeanAbsError() + 0.05 * predicted + 1.0)) {
    samples_.erase(samples_.begin(), samples_.end() - 1);  // a new regime
  }
  if (!samples_.empty()) {
    residuals_.Add(err);
    for (size_t i = 0; i < kWindows.size(); ++i) {
      double e = std::fabs(load_ms - MedianOfLast(kWindows[i]));
      window_error_[i] += kWindowErrorWeight * (e - window_error_[i]);
    }
    best_ = 0;
    for (size_t i = 1; i < kWindows.size(); ++i) {
      if (window_error_[i] < window_error_[best_]) best_ = i;
    }
  }
  samples_.push_back(load_ms);
  if (samples_.size() > static_cast<size_t>(kWindows.back())) samples_.pop_front();
  return err;
}

TermEstimate ExecTerm::Predict(double batch, double kilobytes) const {
  if (count_ == 0) return {};
  double mean = beta_[0] + beta_[1] * batch + beta_[2] * kilobytes;
  return residuals_.Around(std::max(0.0, mean));
}

int ExecTerm::Outside(double err) const {
  if (range_n_ < kOutsideMinWindow) return 0;
  return err < lo_ ? -1 : (err > hi_ ? 1 : 0);
}

double ExecTerm::Observe(double batch, double kilobytes, double exec_ms, bool start_over,
                         bool hold_level) {
  double err = exec_ms - Predict(batch, kilobytes).mean_ms;
  bool change = false;
  if (count_ > 0) {
    residuals_.Add(err);
    const double raw = exec_ms - (beta_[0] + beta_[1] * batch + beta_[2] * kilobytes);
    const int side = Outside(raw);
    outside_run_ = side != 0 && side == outside_sign_ ? outside_run_ + 1 : (side != 0 ? 1 : 0);
    outside_sign_ = side;
    // A run of large residuals of one sign (CUSUM), or kOutsideRun samples
    // beyond the whole window: the function got faster or slower; keep only
    // the newest samples so the fit follows at once.
    // Much faster than predicted (under a quarter, by 2 ms or more) and
    // than the window's lower quartile: the end of a slow spell, which a
    // stray fast sample inside that spell must not hide from the range rule.
    const double predicted = exec_ms - err;
    const bool far_faster = exec_ms < 0.25 * predicted && predicted - exec_ms > 2.0;
    const bool much_faster = far_faster && range_n_ >= kOutsideMinWindow && exec_ms < q25_;
    fast_run_ = much_faster ? fast_run_ + 1 : 0;
    long_fast_run_ = far_faster ? long_fast_run_ + 1 : 0;
    const double sigma = Sigma(predicted);
    const bool outside = outside_run_ >= kOutsideRun;
    const bool recovered = start_over || fast_run_ >= kOutsideRun || long_fast_run_ >= kLongFastRun;
    const bool detected = change_.Add(err, sigma) || outside || recovered;
    if (detected && hold_level && !start_over && err < 0.0 && long_fast_run_ < kLongFastRun) {
      // Lower, during a saturated spell: luck, not a change (lucky slices
      // come one or two at a time; kLongFastRun in a row is the spell's
      // end, often before its executor reports it).
      ResetRuns();
    } else if (detected) {
      // Keep the earlier samples of a run beyond the range (this one is
      // pushed below); after a recovery only this one (the run may begin
      // with a sample of the slow spell's fast tail).
      const size_t keep = outside ? static_cast<size_t>(kOutsideRun - 1) : (recovered ? 0 : 1);
      while (window_.size() > keep) window_.pop_front();
      residuals_.Reset();
      ResetRuns();
      long_fast_run_ = 0;
      change = true;
    }
  }
  window_.push_back({batch, kilobytes, exec_ms});
  if (window_.size() > static_cast<size_t>(kExecWindow)) window_.pop_front();
  ++count_;
  if (change || count_ <= 8 || ++since_refit_ >= kRefitEvery) Refit();
  return err;
}

void ExecTerm::ResetRuns() {
  change_.Reset();
  outside_run_ = 0;
  outside_sign_ = 0;
  fast_run_ = 0;
}

double ExecTerm::Sigma(double predicted_ms) const {
  double sigma = std::max(scale_, 0.02 * std::fabs(beta_[0]) + 1e-3);
  if (window_.size() < static_cast<size_t>(kOutsideMinWindow) && settled_level_ > 0.0) {
    const double ratio = std::max(0.0, predicted_ms) / settled_level_;
    sigma = std::max(sigma, settled_scale_ * std::min(1.0, 2.0 * ratio));
  }
  return sigma;
}

void ExecTerm::Refit() {
  since_refit_ = 0;
  const int n = static_cast<int>(window_.size());
  std::vector<double> w(n, 1.0), r(n, 0.0);
  Eigen::Vector3d beta(beta_[0], beta_[1], beta_[2]);
  // Ridge on the slopes keeps the fit defined when batch or size never vary.
  const double ridge = 1e-3 * n;
  double scale = 0.0;
  for (int iter = 0; iter < 4; ++iter) {
    Eigen::Matrix3d a = Eigen::Matrix3d::Zero();
    Eigen::Vector3d b = Eigen::Vector3d::Zero();
    for (int i = 0; i < n; ++i) {
      const Sample& s = window_[i];
      Eigen::Vector3d x(1.0, s.batch, s.kb);
      a.noalias() += w[i] * x * x.transpose();
      b.noalias() += w[i] * s.ms * x;
    }
    a(1, 1) += ridge;
    a(2, 2) += ridge;
    beta = a.ldlt().solve(b);
    std::vector<double> abs_r(n);
    for (int i = 0; i < n; ++i) {
      const Sample& s = window_[i];
      r[i] = s.ms - (beta[0] + beta[1] * s.batch + beta[2] * s.kb);
      abs_r[i] = std::fabs(r[i]);
    }
    // MAD scale; the Huber constant 1.345 gives 95 % efficiency under noise.
    scale = 1.4826 * Median(abs_r);
    double k = 1.345 * std::max(scale, 1e-6);
    for (int i = 0; i < n; ++i) w[i] = abs_r[i] <= k ? 1.0 : k / abs_r[i];
  }
  if (beta.allFinite()) beta_ = {beta[0], beta[1], beta[2]};
  scale_ = scale;
  if (n >= kOutsideMinWindow) {
    std::vector<double> ms(n);
    for (int i = 0; i < n; ++i) ms[i] = window_[i].ms;
    settled_scale_ = scale;
    settled_level_ = Median(std::move(ms));
  }
  // The residual range of the samples before the current run (Outside).
  range_n_ = std::max(0, n - outside_run_);
  lo_ = std::numeric_limits<double>::infinity();
  hi_ = -lo_;
  std::vector<double> before_run;
  for (int i = 0; i < range_n_; ++i) {
    const Sample& s = window_[i];
    const double res = s.ms - (beta_[0] + beta_[1] * s.batch + beta_[2] * s.kb);
    lo_ = std::min(lo_, res);
    hi_ = std::max(hi_, res);
    before_run.push_back(s.ms);
  }
  q25_ = LowerQuartile(std::move(before_run));
}

}  // namespace stoa::scheduler
