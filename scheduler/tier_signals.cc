#include "scheduler/tier_signals.h"

#include <cmath>
#include <limits>

namespace stoa::scheduler {
namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
}  // namespace

TierSignals::TierSignals() {
  for (auto& t : faster_since_us_) {
    t.store(std::numeric_limits<int64_t>::min(), std::memory_order_relaxed);
  }
  for (auto& t : saturated_since_us_) {
    t.store(std::numeric_limits<int64_t>::min(), std::memory_order_relaxed);
  }
  for (auto& t : reported_faster_us_) {
    t.store(std::numeric_limits<int64_t>::min(), std::memory_order_relaxed);
  }
}

void TierSignals::ObserveLink(Tier tier, double rtt_ms, int64_t now_us) {
  if (links_.Observe(tier, rtt_ms)) {
    faster_since_us_[TierIndex(tier)].store(now_us, std::memory_order_relaxed);
  }
}

bool TierSignals::ObserveCpuQuota(Tier tier, double cores, int64_t now_us) {
  if (!std::isfinite(cores) || cores < 0.0) return false;
  const double before = cpu_quota_[TierIndex(tier)].exchange(cores, std::memory_order_relaxed);
  // Limited before, and now unlimited or kQuotaStep times more.
  if (before > 0.0 && (cores == 0.0 || cores > kQuotaStep * before)) {
    faster_since_us_[TierIndex(tier)].store(now_us, std::memory_order_relaxed);
    reported_faster_us_[TierIndex(tier)].store(now_us, std::memory_order_relaxed);
  }
  return before != cores;
}

bool TierSignals::ObserveCpuThrottle(Tier tier, double throttled, double used_cores,
                                     int64_t now_us) {
  if (!std::isfinite(throttled) || throttled < 0.0 || !std::isfinite(used_cores) ||
      used_cores < 0.0) {
    return false;
  }
  std::atomic<int64_t>& since = saturated_since_us_[TierIndex(tier)];
  const bool saturated = since.load(std::memory_order_relaxed) != kNever;
  const double quota = cpu_quota_[TierIndex(tier)].load(std::memory_order_relaxed);
  const bool others = quota <= 0.0 || used_cores < kOwnShare * quota;
  if (!saturated && throttled >= kSaturatedOn && others) {
    since.store(now_us, std::memory_order_relaxed);
    return true;
  }
  if (saturated && throttled < kSaturatedOff) {
    since.store(kNever, std::memory_order_relaxed);
    // The spell is over: the models' estimates of the tier are from it.
    faster_since_us_[TierIndex(tier)].store(now_us, std::memory_order_relaxed);
    reported_faster_us_[TierIndex(tier)].store(now_us, std::memory_order_relaxed);
    return true;
  }
  return false;
}

std::array<int64_t, kNumTiers> TierSignals::SaturatedSince() const {
  std::array<int64_t, kNumTiers> out;
  for (Tier t : AllTiers()) {
    out[TierIndex(t)] = saturated_since_us_[TierIndex(t)].load(std::memory_order_relaxed);
  }
  return out;
}

std::array<int64_t, kNumTiers> TierSignals::FasterSince() const {
  std::array<int64_t, kNumTiers> out;
  for (Tier t : AllTiers()) {
    out[TierIndex(t)] = faster_since_us_[TierIndex(t)].load(std::memory_order_relaxed);
  }
  return out;
}

bool TierSignals::SentAfterEvidence(Tier tier, int64_t sent_us) const {
  const int64_t since = reported_faster_us_[TierIndex(tier)].load(std::memory_order_relaxed);
  return since != std::numeric_limits<int64_t>::min() && sent_us >= since &&
         sent_us - since <= kEvidenceUs;
}

}  // namespace stoa::scheduler
