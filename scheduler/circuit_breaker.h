// A per-tier circuit breaker. A tier is one executor shared by every
// function, so one breaker per tier, not per function.
//
//   closed ──(N consecutive tier failures)──▶ open ──(open_ms elapse)──▶ half-open
//   half-open: one request may probe; its success closes the circuit, its
//   failure opens it again for open_ms. A probe that never reports back
//   frees the probe slot after open_ms, so a lost request cannot wedge it.
//
// Time comes from the caller (an injected clock) in microseconds; the
// thresholds come with each call so a policy change applies at once.
//
// Thread safety: lock-free; every method may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <string_view>

namespace stoa::scheduler {

enum class CircuitState { kClosed, kOpen, kHalfOpen };
std::string_view CircuitStateName(CircuitState s);  // "closed", "open", "half_open"

class CircuitBreaker {
 public:
  CircuitState State(int64_t now_us) const;
  // True when a request could go there now: closed, or half-open with the
  // probe slot free. Does not claim anything.
  bool Admits(int64_t now_us) const;
  // Claims admission for one request: always true when closed; when
  // half-open, true for exactly one caller (the probe) per probe window.
  bool TryAdmit(int64_t now_us, int64_t open_us);

  // The tier answered (a bad request it refused counts too): closes a
  // half-open circuit and resets the failure count. Ignored while open: it
  // is a request that left before the circuit opened.
  void RecordSuccess(int64_t now_us);
  // The tier failed (unreachable, timed out): opens the circuit at
  // `threshold` consecutive failures, or again at once when half-open.
  void RecordFailure(int64_t now_us, int threshold, int64_t open_us);

  int ConsecutiveFailures() const { return failures_.load(std::memory_order_relaxed); }
  // Microseconds until an open circuit turns half-open; 0 otherwise.
  int64_t OpenRemainingUs(int64_t now_us) const;

 private:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
  void Open(int64_t expected_open_until, int64_t now_us, int64_t open_us);

  std::atomic<int> failures_{0};
  // kNever while closed; otherwise the time the open period ends.
  std::atomic<int64_t> open_until_us_{kNever};
  // While half-open: the probe slot is taken until this time.
  std::atomic<int64_t> probe_until_us_{kNever};
};

}  // namespace stoa::scheduler
