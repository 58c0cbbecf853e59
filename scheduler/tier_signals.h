// What the gateway's status probes say about each tier besides its health
// (CircuitBreaker): the smoothed link round trip (LinkTracker), the CPU
// quota its executor reports (GetStatusResponse.cpu_quota_cores), and when
// either last showed the tier much faster — a probe far below the smoothed
// round trip, a quota raised more than kQuotaStep times (or lifted), or the
// end of a saturated spell (below). From that moment the function models'
// estimates of the tier predate the change (Exploration::StaleShadows
// shadows it on the next decision). A lowered quota needs nothing here: the
// tier's own runs show it at once.
//
// Saturated: the executor's CPU group reports throttling (cpu_throttled) of
// kSaturatedOn or more on two probes in a row while the executor itself used
// under kOwnShare of the quota over both (cpu_used_cores, averaged), until the
// throttling falls under kSaturatedOff (hysteresis) or kBackProbes status
// probes in a row come back at the round trip from before the spell, whichever
// is first. One probe's own use is too coarse at a small quota: a 0.05-core
// edge running its own frames alone reported 0.01-0.025 cores used while
// throttled 0.6-1.3 (its 5 ms of CPU a period fall on either side of the
// probe's 100 ms window), so one probe started 373 false spells of 0.1-4 s in
// 39 testbed runs (sessions 13-15), each ending in a report of a faster edge;
// the 51 real ones (load-flips' busy loops) lasted 15 s. A probe that repeats
// the last one's figures exactly is the same window (the executor's meter
// answers probes under 100 ms apart with its last rates; QG1: two probes 98 ms
// apart made a false spell) and counts as nothing. Other processes in the group
// take the quota (the load-flips testbed's busy loops: 1.7 throttled seconds
// per second against 0.02-0.05 while the executor runs alone), so a run sent
// there now is much slower than the models' terms say; only the answer to such
// a run, ~0.3 s later, would show it. Throttling of the executor's own making
// (a 0.1-core edge running two frames in a window: 0.5-0.8) is no such news:
// its queue and runs show it. The end of a saturated spell counts as the tier
// found much faster (FasterSince). The models are not priced by the saturated
// state (tried 2026-11-30: pricing a saturated cloud at the level its runs took
// in such spells moved the first requests of a load off it, but the throttling
// rate, averaged since the previous probe, showed the spell's end 250-500 ms
// late and held requests off the recovered cloud meanwhile: load-flips 96.7 %
// against 97.5 % without).
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "scheduler/link_tracker.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

class TierSignals {
 public:
  static constexpr double kQuotaStep = 1.5;

  TierSignals();
  TierSignals(const TierSignals&) = delete;
  TierSignals& operator=(const TierSignals&) = delete;

  // The smoothed probe round trip of `tier`, ms; NaN until its first probe.
  double RttMs(Tier tier) const { return links_.RttMs(tier); }
  // A successful probe of `tier` took `rtt_ms` at `now_us`.
  void ObserveLink(Tier tier, double rtt_ms, int64_t now_us);
  // A probe at `now_us` reported `cores` (0: none or unknown; negative or
  // non-finite: ignored). True when that differs from the last report.
  bool ObserveCpuQuota(Tier tier, double cores, int64_t now_us);
  // The CPU quota `tier`'s executor last reported, cores (0: none or unknown).
  double CpuQuota(Tier tier) const {
    return cpu_quota_[TierIndex(tier)].load(std::memory_order_relaxed);
  }
  static constexpr double kSaturatedOn = 0.5;
  static constexpr double kSaturatedOff = 0.2;
  static constexpr double kOwnShare = 0.5;
  // Status probes in a row back at the round trip from before a saturated
  // spell (within FarLateMs of it) that end the spell (ObserveLink): the
  // starved executor answered them in a time slice each, so its group is
  // no longer starved. In 30 load-flips runs (sessions 13-15) such a pair
  // came 0.1-0.3 s before the throttling report at 30 of 62 spell ends and
  // with it at 26; 6 came mid-spell (a probe pair in a lucky slice), after
  // which the next two throttled probes start the spell again.
  static constexpr int kBackProbes = 2;
  // A probe at `now_us` reported `throttled` and `used_cores` (negative or
  // non-finite: ignored). True when the tier turned saturated or stopped
  // being so, its throttling crossed kSaturatedOff (what SteadyProbeUs
  // keys on), or, outside a spell, it or the probe before it was throttled
  // kSaturatedOn or more (a possible pair above): traced, so that a replay
  // sees the same.
  bool ObserveCpuThrottle(Tier tier, double throttled, double used_cores, int64_t now_us);
  // Whether `tier` is in a saturated spell now (above).
  bool Saturated(Tier tier) const {
    return saturated_[TierIndex(tier)].load(std::memory_order_relaxed);
  }
  // Whether `tier` is in a saturated spell and its last status probe came
  // back near the link's floor from before the spell (NearMs of it, much
  // tighter than the kBackProbes pair's FarLateMs of the smoothed round
  // trip). One such probe is weak evidence, but at a load's end it comes
  // 0.1-0.2 s before the pair or the throttling report: PlacementScheduler
  // hedges on the tier meanwhile (AddHedge), the first answer winning. In
  // the load-flips runs of sessions 10-18 (the cloud's idle probes 0.6-1.9
  // ms), 1.4 % of the loaded cloud's probes came back within 3 ms (lucky
  // slices) and 2.9 % within 7.4, against 80 and 84 % of its probes in the
  // 0.25 s after a load's end. The floor, not the smoothed round trip: the
  // latter takes in the first slow probes of a load before its throttling
  // is reported (LR1: 8-13 ms probes inside a spell were within 1.5x it).
  bool ProbedBack(Tier tier) const {
    return Saturated(tier) && probed_near_[TierIndex(tier)].load(std::memory_order_relaxed);
  }
  static double NearMs(double floor_ms) { return 1.5 * floor_ms + 1.0; }
  // The floor of a tier's probe round trips while its group is not
  // throttled: the lowest one, rising by this factor a probe (about 5 %
  // every 100 ms) so that it follows a link that got slower.
  static constexpr double kFloorRise = 1.05;
  // Per tier, when a probe last showed it much faster (clock micros;
  // INT64_MIN: never).
  std::array<int64_t, kNumTiers> FasterSince() const;
  // How long after such a report a run sent to the tier counts as sent
  // after the change (ModelInput::after_evidence).
  static constexpr int64_t kEvidenceUs = 1'000'000;
  // Whether a run sent to `tier` at `sent_us` went within kEvidenceUs after
  // its executor reported it much faster: a quota raised or lifted, or the
  // end of a saturated spell. A probe's RTT drop does not count here (it
  // still earns the shadow): a throttled executor's probes are as bimodal
  // as its runs (quota-flips testbed, 0.05-core edge: probes 1.5-40 ms,
  // runs 5 or 50-230 ms), and restarting its terms on a fast run after a
  // fast probe drew requests to it (QW5: 93.0 %).
  bool SentAfterEvidence(Tier tier, int64_t sent_us) const;
  // Whether a run sent to `tier` at `sent_us` went within kEvidenceUs after
  // its executor reported a quota kQuotaStep times lower (ModelInput::
  // after_slower_evidence); a first report of a quota counts as lowered
  // from none.
  bool SentAfterSlowerEvidence(Tier tier, int64_t sent_us) const;
  // Whether `tier`'s own runs held it to its CPU quota within kEvidenceUs
  // before `now_us`: a probe outside a saturated spell reported its group
  // throttled kSaturatedOn or more while the executor itself used kOwnShare
  // of the quota or more (not other processes: that is a saturated spell),
  // and no raised quota was reported since. Such a tier's runs are bimodal:
  // one that starts with a slice left (or overruns it until the next tick)
  // runs at full speed, the others wait for the next periods (quota-flips,
  // 0.02-core edge on an AMD family-26 host: 2.8 or 50-200 ms); five lucky
  // ones in a row cut the exec term to full speed (ExecTerm's kLongFastRun).
  bool QuotaBound(Tier tier, int64_t now_us) const;
  // When the executor last reported `tier` much faster (INT64_MIN: never).
  int64_t ReportedFasterUs(Tier tier) const {
    return reported_faster_us_[TierIndex(tier)].load(std::memory_order_relaxed);
  }
  // When a probe of `tier` last came back at its usual round trip (not far
  // above the smoothed value before it, FarLateMs) while its executor's CPU
  // group was not being throttled (its last cpu_throttled under
  // kSaturatedOff: a throttled executor's probes are as bimodal as its runs,
  // whoever takes the quota); INT64_MIN: never.
  int64_t SteadyProbeUs(Tier tier) const {
    return steady_probe_us_[TierIndex(tier)].load(std::memory_order_relaxed);
  }

 private:
  // The executor reported `tier` much faster at `now_us`.
  void ReportedFaster(Tier tier, int64_t now_us);
  // Whether `sent_us` is within kEvidenceUs after `since_us` (INT64_MIN: never).
  static bool SentWithin(const std::atomic<int64_t>& since_us, int64_t sent_us);

  LinkTracker links_;
  std::array<std::atomic<int64_t>, kNumTiers> faster_since_us_;
  std::array<std::atomic<double>, kNumTiers> cpu_quota_{};
  std::array<std::atomic<bool>, kNumTiers> saturated_{};
  // When the executor last reported the tier much faster (INT64_MIN: never).
  std::array<std::atomic<int64_t>, kNumTiers> reported_faster_us_;
  std::array<std::atomic<int64_t>, kNumTiers> steady_probe_us_;
  // When the executor last reported a quota kQuotaStep times lower.
  std::array<std::atomic<int64_t>, kNumTiers> reported_slower_us_;
  // When a probe last showed the tier held to its quota by its own runs
  // (QuotaBound; INT64_MIN: never, or a raised quota since).
  std::array<std::atomic<int64_t>, kNumTiers> quota_bound_us_;
  // The smoothed round trip and the floor (kFloorRise) of the probes as of
  // the last one while the tier's group was not throttled (a group in a
  // saturated spell is throttled kSaturatedOff or more throughout, so
  // during a spell they are its values from before the spell); in a spell,
  // probes in a row back at that round trip, and whether the last came
  // back within NearMs of the floor (ObserveLink).
  std::array<std::atomic<double>, kNumTiers> steady_rtt_ms_;
  std::array<std::atomic<double>, kNumTiers> floor_rtt_ms_;
  std::array<std::atomic<int>, kNumTiers> back_run_{};
  std::array<std::atomic<bool>, kNumTiers> probed_near_{};
  // The last cpu_throttled and cpu_used_cores reported (0 until one is).
  std::array<std::atomic<double>, kNumTiers> throttled_{};
  std::array<std::atomic<double>, kNumTiers> used_cores_{};
};

}  // namespace stoa::scheduler
