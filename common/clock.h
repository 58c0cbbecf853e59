// Time is injected: everything that reads the time takes a Clock&, so the
// scheduler and predictors can be tested with a FakeClock, deterministically.
//
// Thread safety: every method of every implementation is thread-safe.
// Ownership: callers keep the clock alive longer than its users.
#pragma once

#include <atomic>
#include <cstdint>

namespace stoa::common {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time in microseconds since an arbitrary epoch.
  virtual int64_t NowMicros() const = 0;
};

// std::chrono::steady_clock.
class RealClock final : public Clock {
 public:
  int64_t NowMicros() const override;
  // A process-wide instance; it has no state, so sharing it is harmless.
  static RealClock& Get();
};

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_us = 0) : now_us_(start_us) {}
  int64_t NowMicros() const override { return now_us_.load(std::memory_order_relaxed); }
  void AdvanceMicros(int64_t us) { now_us_.fetch_add(us, std::memory_order_relaxed); }
  void SetMicros(int64_t us) { now_us_.store(us, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_us_;
};

}  // namespace stoa::common
