#include "common/clock.h"

#include <chrono>

namespace stoa::common {

int64_t RealClock::NowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RealClock& RealClock::Get() {
  static RealClock clock;
  return clock;
}

}  // namespace stoa::common
