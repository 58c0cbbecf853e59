#include "executors/member_health.h"

#include "absl/strings/str_cat.h"

namespace stoa::executors {

MemberHealth::MemberHealth(size_t members, int64_t down_us, const common::Clock& clock)
    : size_(members),
      down_us_(down_us),
      clock_(clock),
      slots_(std::make_unique<Slot[]>(members)),
      last_error_(members) {}

void MemberHealth::MarkDown(size_t i, const absl::Status& error) {
  slots_[i].down_until_us.store(clock_.NowMicros() + down_us_, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  last_error_[i] = absl::StrCat(absl::StatusCodeToString(error.code()), ": ", error.message());
}

void MemberHealth::MarkUp(size_t i) { slots_[i].down_until_us.store(0, std::memory_order_relaxed); }

void MemberHealth::RecordStatus(size_t i, int64_t queue_depth) {
  MarkUp(i);
  slots_[i].queue_depth.store(queue_depth, std::memory_order_relaxed);
}

bool MemberHealth::IsUp(size_t i, int64_t now_us) const {
  return slots_[i].down_until_us.load(std::memory_order_relaxed) <= now_us;
}

void MemberHealth::CallStarted(size_t i) {
  slots_[i].in_flight.fetch_add(1, std::memory_order_relaxed);
}

void MemberHealth::CallEnded(size_t i) {
  slots_[i].in_flight.fetch_sub(1, std::memory_order_relaxed);
}

int MemberHealth::InFlight(size_t i) const {
  return slots_[i].in_flight.load(std::memory_order_relaxed);
}

namespace {

// Exponential moving average; the first sample sets it.
void Average(std::atomic<double>& avg, double sample) {
  constexpr double kAlpha = 0.2;
  double old = avg.load(std::memory_order_relaxed);
  const double next = old == 0.0 ? sample : old + kAlpha * (sample - old);
  avg.compare_exchange_strong(old, next, std::memory_order_relaxed);
}

}  // namespace

void MemberHealth::RecordService(size_t i, double us) { Average(slots_[i].service_us, us); }

void MemberHealth::RecordLoad(size_t i, double us) { Average(slots_[i].load_us, us); }

double MemberHealth::PredictUs(size_t i, bool warm) const {
  constexpr double kUnknownServiceUs = 1000.0;
  // A member never heard from is assumed to serve like the others.
  double service = slots_[i].service_us.load(std::memory_order_relaxed);
  for (size_t j = 0; j < size_ && service == 0.0; ++j) {
    service = slots_[j].service_us.load(std::memory_order_relaxed);
  }
  double predicted = (InFlight(i) + 1) * (service > 0.0 ? service : kUnknownServiceUs);
  if (!warm) {
    double load = slots_[i].load_us.load(std::memory_order_relaxed);
    for (size_t j = 0; j < size_ && load == 0.0; ++j) {
      load = slots_[j].load_us.load(std::memory_order_relaxed);
    }
    predicted += load;
  }
  return predicted;
}

std::vector<MemberStatus> MemberHealth::Snapshot() const {
  const int64_t now = clock_.NowMicros();
  std::vector<MemberStatus> out(size_);
  for (size_t i = 0; i < size_; ++i) {
    const int64_t until = slots_[i].down_until_us.load(std::memory_order_relaxed);
    out[i].up = until <= now;
    out[i].down_until_us = out[i].up ? 0 : until;
    out[i].in_flight = InFlight(i);
    out[i].queue_depth = slots_[i].queue_depth.load(std::memory_order_relaxed);
    out[i].service_ms = slots_[i].service_us.load(std::memory_order_relaxed) / 1000.0;
    out[i].load_ms = slots_[i].load_us.load(std::memory_order_relaxed) / 1000.0;
  }
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < size_; ++i) out[i].last_error = last_error_[i];
  return out;
}

}  // namespace stoa::executors
