#include "scheduler/streaming_stats.h"

#include <algorithm>
#include <cmath>

namespace stoa::scheduler {

bool StepDetector::Add(double error, double threshold) {
  if (!(std::fabs(error) > threshold)) {
    run_ = 0;
    return false;
  }
  const int sign = error > 0 ? 1 : -1;
  run_ = run_ * sign > 0 ? run_ + sign : sign;
  if (std::abs(run_) < 2) return false;
  run_ = 0;
  return true;
}

bool ChangeDetector::Add(double error, double sigma) {
  if (!std::isfinite(error) || !std::isfinite(sigma) || sigma <= 0.0) return false;
  const double z = std::clamp(error / sigma, -limit_, limit_);
  plus_ = std::max(0.0, plus_ + z - k_);
  minus_ = std::max(0.0, minus_ - z - k_);
  if (plus_ < h_ && minus_ < h_) return false;
  Reset();
  return true;
}

P2Quantile::P2Quantile(double p) : p_(p) { Reset(); }

void P2Quantile::Reset() {
  n_ = 0;
  height_.fill(0.0);
  for (int i = 0; i < 5; ++i) pos_[i] = i + 1;
  desired_ = {1.0, 1.0 + 2 * p_, 1.0 + 4 * p_, 3.0 + 2 * p_, 5.0};
  step_ = {0.0, p_ / 2, p_, (1.0 + p_) / 2, 1.0};
}

void P2Quantile::Add(double x) {
  if (!std::isfinite(x)) return;
  if (n_ < 5) {
    height_[n_++] = x;
    if (n_ == 5) std::sort(height_.begin(), height_.end());
    return;
  }
  ++n_;
  int k;
  if (x < height_[0]) {
    height_[0] = x;
    k = 0;
  } else if (x >= height_[4]) {
    height_[4] = std::max(height_[4], x);
    k = 3;
  } else {
    k = 0;
    while (k < 3 && x >= height_[k + 1]) ++k;
  }
  for (int i = k + 1; i < 5; ++i) pos_[i] += 1.0;
  for (int i = 0; i < 5; ++i) desired_[i] += step_[i];
  for (int i = 1; i <= 3; ++i) {
    double d = desired_[i] - pos_[i];
    if ((d >= 1.0 && pos_[i + 1] - pos_[i] > 1.0) || (d <= -1.0 && pos_[i - 1] - pos_[i] < -1.0)) {
      double s = d > 0 ? 1.0 : -1.0;
      double np = pos_[i + 1], pp = pos_[i - 1], cp = pos_[i];
      double parabolic =
          height_[i] + s / (np - pp) *
                           ((cp - pp + s) * (height_[i + 1] - height_[i]) / (np - cp) +
                            (np - cp - s) * (height_[i] - height_[i - 1]) / (cp - pp));
      if (height_[i - 1] < parabolic && parabolic < height_[i + 1]) {
        height_[i] = parabolic;
      } else {
        int j = i + static_cast<int>(s);
        height_[i] += s * (height_[j] - height_[i]) / (pos_[j] - cp);
      }
      pos_[i] += s;
    }
  }
}

double P2Quantile::Value() const {
  if (n_ == 0) return 0.0;
  if (n_ >= 5) return height_[2];
  std::array<double, 5> sorted = height_;
  std::sort(sorted.begin(), sorted.begin() + n_);
  size_t rank = static_cast<size_t>(std::ceil(p_ * static_cast<double>(n_)));
  return sorted[std::clamp<size_t>(rank, 1, n_) - 1];
}

Rls2::Rls2(double lambda, double initial_p) : lambda_(lambda), initial_p_(initial_p) { Reset(); }

void Rls2::Reset() {
  n_ = 0;
  theta_ = {0.0, 0.0};
  p_ = {initial_p_, 0.0, 0.0, initial_p_};
}

void Rls2::Add(double x, double y) {
  if (!std::isfinite(x) || !std::isfinite(y)) return;
  // P·φ with φ = (1, x).
  double px0 = p_[0] + p_[1] * x;
  double px1 = p_[2] + p_[3] * x;
  // Forget only while the covariance is bounded (anti-wind-up).
  double lambda = (p_[0] + p_[3]) < initial_p_ ? lambda_ : 1.0;
  double denom = lambda + px0 + x * px1;
  double k0 = px0 / denom, k1 = px1 / denom;
  double err = y - Predict(x);
  theta_[0] += k0 * err;
  theta_[1] += k1 * err;
  // P = (P − k·φᵀP) / λ, kept symmetric.
  double a = (p_[0] - k0 * px0) / lambda;
  double b = (p_[1] - k0 * px1) / lambda;
  double d = (p_[3] - k1 * px1) / lambda;
  p_ = {a, b, b, d};
  ++n_;
}

}  // namespace stoa::scheduler
