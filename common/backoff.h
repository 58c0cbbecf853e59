// Exponential backoff between retries of an operation that keeps failing
// for a reason outside our control (an accept loop out of file descriptors):
// the first delay is `min`, each following one doubles, up to `max`; a
// success resets it. Pure arithmetic, no clock: callers sleep or arm a timer
// for Next().
//
// Thread safety: none; one owner (e.g. the acceptor's strand).
#pragma once

#include <algorithm>
#include <chrono>

namespace stoa::common {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
      : min_(std::max(min, std::chrono::milliseconds(1))), max_(std::max(max, min_)) {}

  // The delay before the next retry; doubles the one after it.
  std::chrono::milliseconds Next() {
    const std::chrono::milliseconds delay = next_.count() == 0 ? min_ : next_;
    next_ = std::min(delay * 2, max_);
    ++failures_;
    return delay;
  }
  // The operation succeeded: the next failure waits `min` again.
  void Reset() {
    next_ = std::chrono::milliseconds(0);
    failures_ = 0;
  }
  // Failures since the last Reset.
  int failures() const { return failures_; }

 private:
  const std::chrono::milliseconds min_;
  const std::chrono::milliseconds max_;
  std::chrono::milliseconds next_{0};
  int failures_ = 0;
};

}  // namespace stoa::common
