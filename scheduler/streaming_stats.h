// Small streaming estimators the latency terms are built from.
//
//   P2Quantile   one quantile of a stream in O(1) memory (the P² algorithm of
//                Jain and Chlamtac: five markers moved by piecewise-parabolic
//                interpolation). Exact for the first five samples.
//   Rls2         y ≈ θ0 + θ1·x by recursive least squares with exponential
//                forgetting λ, so an old regime fades in about 1/(1−λ)
//                samples. Forgetting is applied only while the covariance is
//                bounded, so a stream with a constant x (no excitation in the
//                slope direction) cannot blow it up ("wind-up").
//
//   ChangeDetector  two-sided CUSUM (Page) on standardised prediction
//                errors: finds a persistent shift of any size, a large one
//                in two samples, a 2σ one in about five; never one lone
//                spike.
//   AtomicSum    a sum of doubles many threads add to without a lock.
//
// Thread safety: AtomicSum is lock-free; the others have none, the owner
// serialises access (latency_model.h holds a mutex per function × tier).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace stoa::scheduler {

// Tells a step change from a spike in a stream of prediction errors: Add
// returns true when `error` is the second outlier in a row (|error| >
// threshold) on the same side, and starts counting afresh.
class StepDetector {
 public:
  bool Add(double error, double threshold);
  void Reset() { run_ = 0; }

 private:
  int run_ = 0;  // signed length of the current run of outliers
};

// Two-sided CUSUM on z = error / sigma, each z clamped to ±(h/2 + k) so no
// single outlier raises an alarm:
//   g+ = max(0, g+ + z − k),  g− = max(0, g− − z − k);
// Add returns true (and restarts both sums) when either reaches h. With the
// defaults (k 0.5, h 8): two errors beyond 4.5σ on one side, a 2σ shift in
// about 6 samples, a 1σ one in about 16; on Gaussian noise a false alarm
// about once per several thousand samples.
class ChangeDetector {
 public:
  static constexpr double kDefaultK = 0.5;
  static constexpr double kDefaultH = 8.0;
  // `samples` (>= 2): how many errors far out on one side raise an alarm
  // (each z clamped to ±(h/samples + k)).
  explicit ChangeDetector(double k = kDefaultK, double h = kDefaultH, int samples = 2)
      : k_(k), h_(h), limit_(h / samples + k) {}
  // `sigma` > 0: the error's usual size; non-finite values are ignored.
  bool Add(double error, double sigma);
  void Reset() { plus_ = minus_ = 0.0; }
  double Plus() const { return plus_; }
  double Minus() const { return minus_; }

 private:
  double k_, h_, limit_;
  double plus_ = 0.0, minus_ = 0.0;
};

class AtomicSum {
 public:
  void Add(double v) {
    double old = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
    }
  }
  double Value() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> sum_{0.0};
};

class P2Quantile {
 public:
  // `p` in (0, 1), e.g. 0.95.
  explicit P2Quantile(double p);
  void Add(double x);  // non-finite values are ignored
  // The current estimate; 0 before the first sample.
  double Value() const;
  uint64_t Count() const { return n_; }
  void Reset();

 private:
  double p_;
  uint64_t n_ = 0;
  std::array<double, 5> height_{};
  std::array<double, 5> pos_{};
  std::array<double, 5> desired_{};
  std::array<double, 5> step_{};
};

class Rls2 {
 public:
  // `lambda` in (0, 1]: 1 = no forgetting. `initial_p`: prior variance of θ.
  explicit Rls2(double lambda, double initial_p = 1e4);
  void Add(double x, double y);  // non-finite values are ignored
  double Predict(double x) const { return theta_[0] + theta_[1] * x; }
  double Intercept() const { return theta_[0]; }
  double Slope() const { return theta_[1]; }
  uint64_t Count() const { return n_; }
  void Reset();
  // Keeps θ but restores the prior covariance, so the next samples move the
  // fit almost all the way: called when the process is known to have changed.
  void Reopen() { p_ = {initial_p_, 0.0, 0.0, initial_p_}; }

 private:
  double lambda_;
  double initial_p_;
  uint64_t n_ = 0;
  std::array<double, 2> theta_{};
  std::array<double, 4> p_{};  // row-major 2×2 covariance
};

}  // namespace stoa::scheduler
