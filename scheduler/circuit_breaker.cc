#include "scheduler/circuit_breaker.h"

#include "common/check.h"

namespace stoa::scheduler {

std::string_view CircuitStateName(CircuitState s) {
  switch (s) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half_open";
  }
  STOA_CHECK(false, "not a CircuitState");
}

CircuitState CircuitBreaker::State(int64_t now_us) const {
  int64_t open_until = open_until_us_.load(std::memory_order_acquire);
  if (open_until == kNever) return CircuitState::kClosed;
  return now_us < open_until ? CircuitState::kOpen : CircuitState::kHalfOpen;
}

bool CircuitBreaker::Admits(int64_t now_us) const {
  switch (State(now_us)) {
    case CircuitState::kClosed:
      return true;
    case CircuitState::kOpen:
      return false;
    case CircuitState::kHalfOpen:
      return now_us >= probe_until_us_.load(std::memory_order_acquire);
  }
  return false;
}

bool CircuitBreaker::TryAdmit(int64_t now_us, int64_t open_us) {
  switch (State(now_us)) {
    case CircuitState::kClosed:
      return true;
    case CircuitState::kOpen:
      return false;
    case CircuitState::kHalfOpen: {
      int64_t probe_until = probe_until_us_.load(std::memory_order_acquire);
      if (now_us < probe_until) return false;
      return probe_until_us_.compare_exchange_strong(probe_until, now_us + open_us,
                                                     std::memory_order_acq_rel);
    }
  }
  return false;
}

void CircuitBreaker::RecordSuccess(int64_t now_us) {
  int64_t open_until = open_until_us_.load(std::memory_order_acquire);
  if (open_until != kNever && now_us < open_until) return;  // still open
  failures_.store(0, std::memory_order_relaxed);
  if (open_until != kNever &&
      open_until_us_.compare_exchange_strong(open_until, kNever, std::memory_order_acq_rel)) {
    probe_until_us_.store(kNever, std::memory_order_release);
  }
}

void CircuitBreaker::RecordFailure(int64_t now_us, int threshold, int64_t open_us) {
  int failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  int64_t open_until = open_until_us_.load(std::memory_order_acquire);
  if (open_until == kNever) {
    if (failures >= threshold) Open(open_until, now_us, open_us);
  } else if (now_us >= open_until) {
    Open(open_until, now_us, open_us);  // the half-open probe failed
  }
}

void CircuitBreaker::Open(int64_t expected_open_until, int64_t now_us, int64_t open_us) {
  if (open_until_us_.compare_exchange_strong(expected_open_until, now_us + open_us,
                                             std::memory_order_acq_rel)) {
    probe_until_us_.store(kNever, std::memory_order_release);
  }
}

int64_t CircuitBreaker::OpenRemainingUs(int64_t now_us) const {
  int64_t open_until = open_until_us_.load(std::memory_order_acquire);
  if (open_until == kNever || now_us >= open_until) return 0;
  return open_until - now_us;
}

}  // namespace stoa::scheduler
