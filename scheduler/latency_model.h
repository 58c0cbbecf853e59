// What the scheduler has learned about one function on one tier: the four
// latency terms of latency_terms.h behind one mutex, the prediction made
// from them and the per-term one-step errors of the last observation.
//
// The prediction of a tier is the sum of its terms (net only for a tier
// behind a network, cold only while the function is not loaded there), plus
// how overdue the gateway's calls in flight there are (ModelInput); after
// an answer far later than predicted (FarAbove), the warm part is at least
// that answer's latency until the next answer (the terms' change detection
// needs two such answers, and the requests in between went to the tier
// that had just slowed). Its
// uncertainty is the root sum of squares of the terms' p95 − mean widths
// (terms taken as independent); objective p95 predicts mean + uncertainty.
//
// Thread safety: every method may be called concurrently (one absl::Mutex
// per function × tier: contention only between calls of the same function
// on the same tier, held for well under a microsecond except on an exec
// refit every few observations).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "scheduler/decision.h"
#include "scheduler/latency_terms.h"
#include "scheduler/policy_config.h"

namespace stoa::scheduler {

enum class Term : uint8_t { kNet = 0, kQueue = 1, kCold = 2, kExec = 3 };
inline constexpr int kNumTerms = 4;
inline constexpr std::array<Term, kNumTerms> kAllTerms = {Term::kNet, Term::kQueue, Term::kCold,
                                                          Term::kExec};
std::string_view TermName(Term t);  // "net", "queue", "cold", "exec"
constexpr int TermIndex(Term t) { return static_cast<int>(t); }

struct Prediction {
  bool measured = false;      // at least one successful observation
  uint64_t observations = 0;  // successful observations so far
  double ms = 0.0;            // by the objective (mean or p95); 0 when not measured
  double mean_ms = 0.0;
  double p95_ms = 0.0;
  double uncertainty_ms = 0.0;  // p95_ms − mean_ms
  std::array<TermEstimate, kNumTerms> terms{};
  // ModelInput::overdue_ms, included in mean_ms and p95_ms.
  double overdue_ms = 0.0;
  // How much the last answer, when it was far late (FarAbove its
  // prediction), raised mean_ms and p95_ms: until the next answer from
  // the tier, a warm run is predicted to take at least as long as it did.
  double late_ms = 0.0;
};

// The features a prediction depends on, as the model sees them.
struct ModelInput {
  bool warm = true;         // loaded on this tier
  bool networked = true;    // false for the in-process edge: no net term
  double request_kb = 0.0;  // request payload, kilobytes
  double batch = 1.0;
  double ahead = 0.0;  // executor-reported queue depth + gateway in-flight
  // The tier's probed round trip now (Scheduler::ObserveLink); NaN: none.
  double link_rtt_ms = std::numeric_limits<double>::quiet_NaN();
  // Features::overdue_ms of the tier: added to the prediction as it is (a
  // call already that late says a new one will be at least as late).
  double overdue_ms = 0.0;
  // Observe only: the run was sent shortly after the tier's executor
  // reported it much faster (TierSignals::SentAfterEvidence: a quota raised,
  // a saturated spell ended). Such a run answering in under a quarter of
  // its prediction, on a tier whose last kRecent answers were a slow
  // spell (SlowSpellLocked), ends the
  // slow spell at once: each term whose part was far below its prediction
  // starts over from it, instead of waiting for two or three fast runs in a
  // row (the end of a load on the cloud, load-flips testbed: 3-4 requests
  // misplaced per recovery while the shadows came back at 5-18 ms against
  // 110-210 ms predicted).
  bool after_evidence = false;
  // Observe only: the run was sent shortly after the tier's executor
  // reported a much lower CPU quota (TierSignals::SentAfterSlowerEvidence).
  // Such a run answering far late (FarAbove its prediction) restarts the
  // exec term from it at once instead of after three such runs: the
  // change is known (quota-flips QH1: a 20x lower quota at 29.84 s; the
  // first run after it took 38 ms against 4 predicted, the exec term moved
  // to 16 ms, and four requests went to the 0.05-core edge at 30.65-30.73
  // s and were answered by their late backups in 111-131 ms).
  bool after_slower_evidence = false;
  // The tier's CPU group is in a saturated spell now
  // (TierSignals::Saturated: other processes take its quota). Its runs
  // take whatever time slices they get, so a fast one is luck, not the
  // spell's end: the exec term keeps its level on runs far below it (they
  // still enter its window) until the spell is over or five such runs come
  // in a row (kLongFastRun, latency_terms.h: the end of a load shows in the runs
  // 0.2-0.35 s before the throttling report does; load-flips testbed:
  // three lucky runs of 4-62 ms inside a loaded spell of 100-400 ms took
  // the cloud's exec term from 237 to 33 ms and sent three requests there,
  // 222-391 ms each, while the edge answered in 28-140). The net term
  // likewise (NetTerm::Observe's hold_level), and in Predict a probe may
  // raise it but not lower it (load-flips LZ1, 76.8-77.3 s: a probe of
  // 11 ms and a transfer of 10 ms among probes of 54-177 ms took the
  // cloud's net term from 146 to 10 ms; three requests went there and
  // answered in 141-302 ms while the edge answered in 5-68).
  bool saturated = false;
  // Observe only: when the answer came, clock micros. Predict only: when
  // the tier's executor last reported it much faster (TierSignals::ReportedFasterUs: a quota
  // raised, a saturated spell's end; INT64_MIN: never). A far-late answer
  // is held as the tier's latency only until such a report: the report
  // explains it (load-flips LY3: a 270 ms edge answer in a 0.1 s saturated
  // spell of the edge's group, held after the spell's end was reported,
  // sent a request to a 230 ms cloud while the edge answered in 27 ms).
  int64_t now_us = 0;
  int64_t reported_faster_us = std::numeric_limits<int64_t>::min();
  // Predict only: when a status probe of the tier last came back at its
  // usual round trip while its CPU group was not throttled
  // (TierSignals::SteadyProbeUs; INT64_MIN: never). On a networked tier
  // outside a saturated spell, such a probe after a far-late answer also
  // ends its hold: the executor and the link answer as usual, so the late
  // answer was a one-off. Testbed audit (23 load-, quota- and tier-flips
  // runs of sessions 13-15; there the edge executor is networked too): 49
  // of 55 holds of the cloud outside saturated spells were wrong (its next
  // answer faster than the tier chosen instead, 1.5 s lost), while 77 of 88
  // holds of the quota-limited edge were right (its own throttling: probes
  // as bimodal as its runs, hence the throttling condition) and 17 of 20
  // inside saturated spells.
  int64_t steady_probe_us = std::numeric_limits<int64_t>::min();
};

using TermErrors = std::array<double, kNumTerms>;  // NaN: term not observed

class LatencyModel {
 public:
  Prediction Predict(const ModelInput& in, Objective objective) const;
  // Learns from a successful outcome; returns each term's one-step error
  // (actual − predicted, ms). Non-finite latencies are ignored.
  TermErrors Observe(const ModelInput& in, const Outcome& outcome);

  static constexpr int kRecent = 8;

  uint64_t Observations() const {
    absl::ReaderMutexLock lock(&mu_);
    return observations_;
  }

  struct Snapshot {
    uint64_t observations = 0;
    std::vector<double> recent_ms;  // the last kRecent latencies, oldest first
    double last_latency_ms = std::numeric_limits<double>::quiet_NaN();
    double rtt_ms = 0.0, ms_per_kb = 0.0, service_ms = 0.0;
    int cold_window = 0;
    bool cold_measured = false;
    std::array<double, 3> exec_coefficients{};
    std::array<double, kNumTerms> mean_abs_error{};
    std::array<double, kNumTerms> last_error{};
    std::array<uint64_t, kNumTerms> term_observations{};
  };
  Snapshot Snap() const;

 private:
  Prediction PredictLocked(const ModelInput& in, Objective objective) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Whether the tier's last kRecent answers were a slow spell that a run
  // of `fast_ms` ends: fast_ms under a quarter of their lower quartile, so
  // two fast answers in eight (a throttled executor's time slices) do not
  // hide the spell, while a tier fast or slow by turns (4-6 or 30-50 ms)
  // shows no spell. Fast answers newer than every slow one are left out:
  // the recovery may begin before the executor's report (load-flips LX1: a
  // shadow sent just after the load ended answered in 15 ms, 0.1 s before
  // the report, and the 6 ms run after the report was then no restart;
  // three requests went on to a queued edge).
  bool SlowSpellLocked(double fast_ms) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  NetTerm net_ ABSL_GUARDED_BY(mu_);
  QueueTerm queue_ ABSL_GUARDED_BY(mu_);
  ColdTerm cold_ ABSL_GUARDED_BY(mu_);
  ExecTerm exec_ ABSL_GUARDED_BY(mu_);
  double response_kb_ ABSL_GUARDED_BY(mu_) = 0.0;  // smoothed
  uint64_t observations_ ABSL_GUARDED_BY(mu_) = 0;
  std::array<double, kRecent> recent_ ABSL_GUARDED_BY(mu_){};  // ring, by observations_
  double last_latency_ms_ ABSL_GUARDED_BY(mu_) = std::numeric_limits<double>::quiet_NaN();
  // The last warm latency when it was FarAbove its prediction, else 0;
  // and when that answer came (ModelInput::now_us).
  double late_ms_ ABSL_GUARDED_BY(mu_) = 0.0;
  int64_t late_at_us_ ABSL_GUARDED_BY(mu_) = 0;
  // Every execution time the exec term holds came from cold runs (the run
  // that loaded the function). A function's first runs after a load are
  // slow (allocation, page faults, packed weights: vision_wide's first run
  // 70 ms on the cloud, its second 21 ms), so the first warm run starts the
  // exec fit over instead of being averaged with them (load-flips testbed:
  // five requests misplaced at the start).
  bool exec_cold_only_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace stoa::scheduler
