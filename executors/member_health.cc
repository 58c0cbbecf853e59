#include "executors/member_health.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace stoa::executors {

MemberHealth::MemberHealth(size_t members, int64_t down_us, const common::Clock& clock)
    : down_us_(down_us),
      clock_(clock),
      chunks_(std::make_unique<std::atomic<Slot*>[]>(kMaxMembers / kChunk)) {
  for (size_t c = 0; c < kMaxMembers / kChunk; ++c) chunks_[c].store(nullptr);
  for (size_t i = 0; i < members; ++i) Add();
}

MemberHealth::~MemberHealth() {
  for (size_t c = 0; c < kMaxMembers / kChunk; ++c) delete[] chunks_[c].load();
}

size_t MemberHealth::Add() {
  absl::MutexLock lock(&mu_);
  const size_t i = size_.load(std::memory_order_relaxed);
  STOA_CHECK(i < kMaxMembers, "a pool has at most MemberHealth::kMaxMembers members");
  if (i % kChunk == 0) chunks_[i / kChunk].store(new Slot[kChunk], std::memory_order_release);
  last_error_.emplace_back();
  size_.store(i + 1, std::memory_order_release);
  return i;
}

void MemberHealth::Reset(size_t i) {
  Slot& s = slot(i);
  s.in_flight.store(0, std::memory_order_relaxed);
  s.down_until_us.store(0, std::memory_order_relaxed);
  s.queue_depth.store(-1, std::memory_order_relaxed);
  s.service_us.store(0.0, std::memory_order_relaxed);
  s.load_us.store(0.0, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  last_error_[i].clear();
}

void MemberHealth::MarkDown(size_t i, const absl::Status& error) {
  slot(i).down_until_us.store(clock_.NowMicros() + down_us_, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  last_error_[i] = absl::StrCat(absl::StatusCodeToString(error.code()), ": ", error.message());
}

void MemberHealth::MarkUp(size_t i) { slot(i).down_until_us.store(0, std::memory_order_relaxed); }

void MemberHealth::RecordStatus(size_t i, int64_t queue_depth) {
  MarkUp(i);
  slot(i).queue_depth.store(queue_depth, std::memory_order_relaxed);
}

bool MemberHealth::IsUp(size_t i, int64_t now_us) const {
  return slot(i).down_until_us.load(std::memory_order_relaxed) <= now_us;
}

void MemberHealth::CallStarted(size_t i) {
  slot(i).in_flight.fetch_add(1, std::memory_order_relaxed);
}

void MemberHealth::CallEnded(size_t i) {
  slot(i).in_flight.fetch_sub(1, std::memory_order_relaxed);
}

int MemberHealth::InFlight(size_t i) const {
  return slot(i).in_flight.load(std::memory_order_relaxed);
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

void MemberHealth::RecordService(size_t i, double us) { Average(slot(i).service_us, us); }

void MemberHealth::RecordLoad(size_t i, double us) { Average(slot(i).load_us, us); }

double MemberHealth::PredictUs(size_t i, bool warm) const {
  constexpr double kUnknownServiceUs = 1000.0;
  // A member never heard from is assumed to serve like the fastest other
  // one, so a newcomer ties with the best member and gets its share of calls
  // (the rotation breaks the tie) until its own answers set its mean.
  double service = slot(i).service_us.load(std::memory_order_relaxed);
  const size_t n = size();
  if (service == 0.0) {
    for (size_t j = 0; j < n; ++j) {
      const double other = slot(j).service_us.load(std::memory_order_relaxed);
      if (other > 0.0 && (service == 0.0 || other < service)) service = other;
    }
  }
  double predicted = (InFlight(i) + 1) * (service > 0.0 ? service : kUnknownServiceUs);
  if (!warm) {
    double load = slot(i).load_us.load(std::memory_order_relaxed);
    for (size_t j = 0; j < n && load == 0.0; ++j) {
      load = slot(j).load_us.load(std::memory_order_relaxed);
    }
    predicted += load;
  }
  return predicted;
}

MemberStatus MemberHealth::Status(size_t i) const {
  const int64_t now = clock_.NowMicros();
  MemberStatus out;
  const int64_t until = slot(i).down_until_us.load(std::memory_order_relaxed);
  out.up = until <= now;
  out.down_until_us = out.up ? 0 : until;
  out.in_flight = InFlight(i);
  out.queue_depth = slot(i).queue_depth.load(std::memory_order_relaxed);
  out.service_ms = slot(i).service_us.load(std::memory_order_relaxed) / 1000.0;
  out.load_ms = slot(i).load_us.load(std::memory_order_relaxed) / 1000.0;
  absl::MutexLock lock(&mu_);
  out.last_error = last_error_[i];
  return out;
}

std::vector<MemberStatus> MemberHealth::Snapshot() const {
  std::vector<MemberStatus> out;
  const size_t n = size();
  for (size_t i = 0; i < n; ++i) out.push_back(Status(i));
  return out;
}

}  // namespace stoa::executors
