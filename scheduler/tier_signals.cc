#include "scheduler/tier_signals.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "scheduler/latency_terms.h"

namespace stoa::scheduler {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::min();

}  // namespace

TierSignals::TierSignals() {
  for (auto& t : faster_since_us_) t.store(kNever, std::memory_order_relaxed);
  for (auto& t : reported_faster_us_) t.store(kNever, std::memory_order_relaxed);
  for (auto& t : steady_probe_us_) t.store(kNever, std::memory_order_relaxed);
  for (auto& t : reported_slower_us_) t.store(kNever, std::memory_order_relaxed);
  for (auto& t : quota_bound_us_) t.store(kNever, std::memory_order_relaxed);
  for (auto& r : steady_rtt_ms_) r.store(std::numeric_limits<double>::quiet_NaN());
  for (auto& r : floor_rtt_ms_) r.store(std::numeric_limits<double>::quiet_NaN());
}

void TierSignals::ObserveLink(Tier tier, double rtt_ms, int64_t now_us) {
  const int i = TierIndex(tier);
  const double before = links_.RttMs(tier);
  const bool unthrottled = throttled_[i].load(std::memory_order_relaxed) < kSaturatedOff;
  if (unthrottled && std::isfinite(rtt_ms) && std::isfinite(before) &&
      rtt_ms <= FarLateMs(before)) {
    steady_probe_us_[i].store(now_us, std::memory_order_relaxed);
  }
  if (saturated_[i].load(std::memory_order_relaxed)) {
    // kBackProbes in a row at the round trip from before the spell: it
    // is over, before the throttling rate (averaged since the previous
    // probe) says so. The steady round trip and the floor are those from
    // before the spell: neither moves while the group is throttled, as it
    // is all spell long.
    const double usual = steady_rtt_ms_[i].load(std::memory_order_relaxed);
    const bool back = std::isfinite(rtt_ms) && std::isfinite(usual) && rtt_ms <= FarLateMs(usual);
    const double floor = floor_rtt_ms_[i].load(std::memory_order_relaxed);
    probed_near_[i].store(std::isfinite(rtt_ms) && std::isfinite(floor) && rtt_ms <= NearMs(floor),
                          std::memory_order_relaxed);
    const int run = back ? back_run_[i].fetch_add(1, std::memory_order_relaxed) + 1 : 0;
    if (!back) back_run_[i].store(0, std::memory_order_relaxed);
    if (run >= kBackProbes) {
      saturated_[i].store(false, std::memory_order_relaxed);
      ReportedFaster(tier, now_us);
    }
  }
  if (links_.Observe(tier, rtt_ms)) {
    faster_since_us_[i].store(now_us, std::memory_order_relaxed);
  }
  if (unthrottled) {
    steady_rtt_ms_[i].store(links_.RttMs(tier), std::memory_order_relaxed);
    if (std::isfinite(rtt_ms) && rtt_ms >= 0.0) {
      const double floor = floor_rtt_ms_[i].load(std::memory_order_relaxed);
      floor_rtt_ms_[i].store(std::isfinite(floor) ? std::min(rtt_ms, kFloorRise * floor) : rtt_ms,
                             std::memory_order_relaxed);
    }
  }
}

void TierSignals::ReportedFaster(Tier tier, int64_t now_us) {
  faster_since_us_[TierIndex(tier)].store(now_us, std::memory_order_relaxed);
  reported_faster_us_[TierIndex(tier)].store(now_us, std::memory_order_relaxed);
}

bool TierSignals::ObserveCpuQuota(Tier tier, double cores, int64_t now_us) {
  if (!std::isfinite(cores) || cores < 0.0) return false;
  const double before = cpu_quota_[TierIndex(tier)].exchange(cores, std::memory_order_relaxed);
  // Limited before, and now unlimited or kQuotaStep times more.
  if (before > 0.0 && (cores == 0.0 || cores > kQuotaStep * before)) {
    ReportedFaster(tier, now_us);
    quota_bound_us_[TierIndex(tier)].store(kNever, std::memory_order_relaxed);
  }
  // Limited now, kQuotaStep times less than before (or than no limit).
  if (cores > 0.0 && (before == 0.0 || before > kQuotaStep * cores)) {
    reported_slower_us_[TierIndex(tier)].store(now_us, std::memory_order_relaxed);
  }
  return before != cores;
}

bool TierSignals::ObserveCpuThrottle(Tier tier, double throttled, double used_cores,
                                     int64_t now_us) {
  if (!std::isfinite(throttled) || throttled < 0.0 || !std::isfinite(used_cores) ||
      used_cores < 0.0) {
    return false;
  }
  const int i = TierIndex(tier);
  // The executor's meter answers probes closer than its window
  // (common::CpuThrottleMeter::kMinWindowUs, the probe interval) with the
  // rates it last measured: the same window again, not a second probe.
  if (throttled == throttled_[i].load(std::memory_order_relaxed) &&
      used_cores == used_cores_[i].load(std::memory_order_relaxed)) {
    return false;
  }
  const double before = throttled_[i].exchange(throttled, std::memory_order_relaxed);
  const double used_before = used_cores_[i].exchange(used_cores, std::memory_order_relaxed);
  // Throttled or not (SteadyProbeUs) changed: a traced change too.
  const bool crossed = (before < kSaturatedOff) != (throttled < kSaturatedOff);
  std::atomic<bool>& saturated = saturated_[i];
  if (!saturated.load(std::memory_order_relaxed)) {
    // Two probes in a row throttled, the executor's own use over both
    // under kOwnShare of the quota. Every probe that may be one of such a
    // pair is traced (the first below kSaturatedOn after one at or above
    // it too), so a replay sees the pair the live run saw.
    const double quota = cpu_quota_[i].load(std::memory_order_relaxed);
    const bool others = quota <= 0.0 || 0.5 * (used_cores + used_before) < kOwnShare * quota;
    const bool traced = crossed || throttled >= kSaturatedOn || before >= kSaturatedOn;
    // Held to the quota by its own runs (QuotaBound; traced, as above).
    if (quota > 0.0 && throttled >= kSaturatedOn && used_cores >= kOwnShare * quota) {
      quota_bound_us_[i].store(now_us, std::memory_order_relaxed);
    }
    if (throttled < kSaturatedOn || before < kSaturatedOn || !others) return traced;
    saturated.store(true, std::memory_order_relaxed);
    back_run_[i].store(0, std::memory_order_relaxed);
    probed_near_[i].store(false, std::memory_order_relaxed);
    return true;
  }
  if (throttled >= kSaturatedOff) return crossed;
  saturated.store(false, std::memory_order_relaxed);
  // The spell is over: the models' estimates of the tier are from it.
  ReportedFaster(tier, now_us);
  return true;
}

std::array<int64_t, kNumTiers> TierSignals::FasterSince() const {
  std::array<int64_t, kNumTiers> out;
  for (Tier t : AllTiers()) {
    out[TierIndex(t)] = faster_since_us_[TierIndex(t)].load(std::memory_order_relaxed);
  }
  return out;
}

bool TierSignals::SentWithin(const std::atomic<int64_t>& since_us, int64_t sent_us) {
  const int64_t since = since_us.load(std::memory_order_relaxed);
  return since != kNever && sent_us >= since && sent_us - since <= kEvidenceUs;
}

bool TierSignals::QuotaBound(Tier tier, int64_t now_us) const {
  return SentWithin(quota_bound_us_[TierIndex(tier)], now_us);
}

bool TierSignals::SentAfterSlowerEvidence(Tier tier, int64_t sent_us) const {
  return SentWithin(reported_slower_us_[TierIndex(tier)], sent_us);
}

bool TierSignals::SentAfterEvidence(Tier tier, int64_t sent_us) const {
  return SentWithin(reported_faster_us_[TierIndex(tier)], sent_us);
}

}  // namespace stoa::scheduler
