// The four terms of the latency model of DESIGN.md § Scheduler, one object
// per function × tier each:
//
//   L(f, t) = net(t, bytes) + queue(t) + cold(f, t) + exec(f, t, size)
//
//   NetTerm    transfer time = client-observed total − server-reported time,
//              fitted as rtt + bytes / bandwidth by RLS with forgetting
//              (streaming_stats.h) on request + response kilobytes; two
//              residuals in a row far outside the usual error on one side
//              (the link changed) reopen the RLS covariance so the fit jumps.
//              Where the gateway probes the tier in the background (GetStatus
//              round trips), a second fit learns the transfer time in excess
//              of the probed round trip. While the probed round trip stays
//              within a dead band (10 % + 2 ms) of its value at the last
//              observation, the first fit predicts; once it leaves the band
//              (the link changed while no request went there), the
//              prediction is that excess + the round trip probed now, so a
//              link that got slower or faster shows without sending the
//              function there, and the next observation reopens the first
//              fit. Two transfers in a row far below the prediction
//              (FarBelow) reopen both fits.
//   QueueTerm  queue wait = the wait with nobody ahead + slope × (executor-
//              reported queue depth + the gateway's own in-flight calls to
//              the tier) × recent service time: the slope, a ratio estimator
//              with forgetting, learns 1 / the executor's parallelism.
//              Three waits in a row far below the prediction start it over
//              and take the newest execution time as the service time.
//   ColdTerm   load time while the function is not loaded on the tier: the
//              median of the last w observed load times, where w is re-chosen
//              after every load as the candidate window with the smallest
//              smoothed one-step prediction error (as STOIC does); a
//              conservative default before the first load.
//   ExecTerm   execution time, a Huber M-estimate (iteratively reweighted
//              least squares on Eigen) of exec_ms ≈ β0 + β1·batch + β2·KB over
//              the last kExecWindow samples, refitted every few samples and
//              cut back to the newest samples when they all sit on one side
//              of the fit (a step change).
//
// Change detection on every term: a two-sided CUSUM (ChangeDetector,
// streaming_stats.h) on the term's one-step errors, scaled by its usual
// error, finds a persistent shift (two errors far on one side, or a run of
// moderate ones) and resets that term's estimate to the new regime: the net
// and queue fits reopen their covariance, the exec window is cut to the
// newest samples, the cold window to the newest load.
//
// Each term predicts a mean and a p95: the p95 is the mean plus the P²
// estimate of the 95th percentile of its own one-step residuals, so the
// quantile reflects how wrong the term has actually been. Observe returns
// the term's one-step prediction error (actual − predicted, ms) so the owner
// can export it.
//
// Thread safety: none; latency_model.h serialises access.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <vector>

#include "scheduler/streaming_stats.h"

namespace stoa::scheduler {

// True when an observation is far below its prediction: under half of it
// and by 2 ms or more. A run of such observations (NetTerm::kFastRun,
// QueueTerm::kFastRun) ends a slow spell at once: the CUSUM standardises by
// the term's usual error, which a noisy spell (a starved executor: transfer
// and queue times of 30-300 ms) inflates so much that a return to 1 ms took
// 5-10 observations and ~1 s to follow (load-flips testbed traces).
bool FarBelow(double actual_ms, double predicted_ms);
// The latency past which a run predicted at `predicted_ms` is far late:
// twice the prediction plus 5 ms (slack for the usual spread). FarAbove
// (latency_model.h) and the gateway's due time of a call in flight
// (gateway/tier_monitor.h) both use it.
inline double FarLateMs(double predicted_ms) { return 2.0 * predicted_ms + 5.0; }
// True when an observation is far above its prediction (FarLateMs).
bool FarAbove(double actual_ms, double predicted_ms);
// The sample at a quarter of the sorted order (0 for none).
double LowerQuartile(std::vector<double> v);
// Far-faster observations in a row that count as the end of a slow spell
// whatever else a term knows: ExecTerm's rule below, and while a saturated
// spell holds the exec and net terms' levels, the only way they restart
// lower before the spell's end is reported (lucky time slices inside a
// spell come one or two at a time; the load-flips trace: at most two).
inline constexpr int kLongFastRun = 5;

struct TermEstimate {
  double mean_ms = 0.0;
  double p95_ms = 0.0;
};

// Residual statistics shared by every term.
class ResidualStats {
 public:
  void Add(double error_ms);
  // mean + max(0, p95 of residuals); 0-width until residuals exist.
  TermEstimate Around(double mean_ms) const;
  double MeanAbsError() const { return mae_; }
  double LastError() const { return last_; }
  uint64_t Count() const { return q95_.Count(); }
  void Reset();

 private:
  P2Quantile q95_{0.95};
  double mae_ = 0.0;
  double last_ = 0.0;
};

class NetTerm {
 public:
  static constexpr double kNotProbed = std::numeric_limits<double>::quiet_NaN();
  // `link_rtt_ms`: the tier's probed round trip now (kNotProbed: none).
  // `hold_level` (a saturated spell, LatencyModel: ModelInput::saturated):
  // a probe may raise the prediction, never lower it below the fit.
  TermEstimate Predict(double kilobytes, double link_rtt_ms = kNotProbed,
                       bool hold_level = false) const;
  // `start_over`: forget the fit and follow this transfer (LatencyModel: the
  // end of a slow spell shown by a probe and a run after it). `hold_level`:
  // the tier's executor is starved by other processes, so its probes and
  // transfers are as bimodal as its runs (load-flips testbed: probes of
  // 11-177 ms, transfers of 10-164 ms, within one second): a moved probe
  // does not reopen the fit, nor does a change downwards or a run of fast
  // transfers shorter than kLongFastRun, and the excess over the probe is
  // not learned (a probe slower than the transfer is no link).
  double Observe(double kilobytes, double transfer_ms, double link_rtt_ms = kNotProbed,
                 bool start_over = false, bool hold_level = false);
  double RttMs() const { return full_.Intercept(); }
  double MsPerKb() const { return excess_.Count() > 0 ? excess_.Slope() : full_.Slope(); }
  uint64_t Count() const { return full_.Count(); }
  const ResidualStats& residuals() const { return residuals_; }
  static constexpr int kFastRun = 2;  // kLongFastRun while the level is held
  // A transfer back at the probed round trip (within 25 % + 2 ms) while the
  // estimate is well above it (1.5x + 2 ms): also counts towards kFastRun. A
  // spike of slow transfers that never showed in the probes (the gateway's
  // host busy for a moment) doubles the estimate; the transfers after it at
  // the probe's RTT are not under half of it, so FarBelow alone let the
  // estimate decay over 8+ transfers (quota-flips testbed trace: 62 -> 45 ms
  // in 1.3 s on a 32 ms link, four misplaced requests).
  static bool BackAtTheProbe(double transfer_ms, double predicted_ms, double link_rtt_ms);

 private:
  Rls2 full_{0.9, 1e4};    // transfer_ms over kilobytes
  Rls2 excess_{0.9, 1e4};  // transfer_ms − probed round trip, when probed
  ChangeDetector change_;
  // The probed round trip at the last observation (NaN: none).
  double link_last_ms_ = std::numeric_limits<double>::quiet_NaN();
  int fast_run_ = 0;  // observations in a row FarBelow the prediction
  bool LinkMoved(double link_rtt_ms) const;
  ResidualStats residuals_;
};

// Queue wait = idle + slope × ahead × service time. `idle`: the wait with
// nobody ahead (scheduling, a throttled executor's frozen slice), an EWMA
// of such waits; `slope` (1 / the executor's parallelism), a ratio
// estimator with forgetting through the origin on the waits with someone
// ahead, minus idle. Not a two-parameter fit: the waits with someone ahead
// are few and noisy (a 0.1-core edge: 20, 80 and 10 ms for one and two
// ahead), and after a reopen an RLS line through three such points took a
// steep negative slope and an intercept of 190 ms, predicted for a request
// with nobody ahead (tier-flips TK1 far-1: two requests sent 60 ms away).
class QueueTerm {
 public:
  // `ahead`: queued or in-flight requests ahead of this one.
  TermEstimate Predict(double ahead) const;
  double Observe(double ahead, double queue_ms, double exec_ms, bool start_over = false);
  double ServiceMs() const { return service_ms_; }
  double Slope() const { return slope_; }
  uint64_t Count() const { return count_; }
  const ResidualStats& residuals() const { return residuals_; }
  static constexpr int kFastRun = 3;
  static constexpr double kForget = 0.9;
  // Before any wait with someone ahead: one worker.
  static constexpr double kPriorSlope = 1.0;

 private:
  // Forgets the slope's samples and the idle wait's level (a new regime).
  void Restart();
  ChangeDetector change_;
  int fast_run_ = 0;  // observations in a row FarBelow the prediction
  uint64_t count_ = 0;
  double sxx_ = 0.0, sxy_ = 0.0;  // forgetting sums of x², x·(wait − idle)
  double slope_ = kPriorSlope;
  double idle_ms_ = 0.0;
  bool has_idle_ = false;
  double service_ms_ = 0.0;
  bool has_service_ = false;
  ResidualStats residuals_;
};

class ColdTerm {
 public:
  // Charged until a load has been observed: conservative, so a warm tier
  // wins unless it is much slower.
  static constexpr double kDefaultMs = 250.0;
  static constexpr std::array<int, 5> kWindows = {1, 3, 5, 9, 15};

  TermEstimate Predict() const;
  double Observe(double load_ms);
  bool Measured() const { return !samples_.empty(); }
  int Window() const { return kWindows[best_]; }
  const ResidualStats& residuals() const { return residuals_; }

 private:
  double MedianOfLast(int w) const;
  std::deque<double> samples_;  // newest last, at most the largest window
  std::array<double, kWindows.size()> window_error_{};
  size_t best_ = 2;
  ChangeDetector change_;
  ResidualStats residuals_;
};

class ExecTerm {
 public:
  static constexpr int kExecWindow = 32;
  static constexpr int kRefitEvery = 4;
  // Samples in a row beyond every residual of the window (all below its
  // lowest, or all above its highest) that count as a change, with at least
  // kOutsideMinWindow samples before them. The CUSUM standardises by the
  // window's scale, so after a noisy regime (an executor under background
  // load: 30-300 ms) a return to a quiet fast one (4 ms) is only a few
  // scales away and took ~20 samples to follow; three samples below every
  // one of 8-32 earlier ones is a change whatever the scale (by chance
  // under 1e-4 on stationary noise).
  // Also a change: kOutsideRun samples in a row each under a quarter of the
  // prediction (by 2 ms or more) and under the window's lower quartile, so
  // that one fast sample inside a slow spell (a throttled executor that got
  // a time slice) does not hide the spell's end from the rule above (the
  // load-flips testbed: ~9 samples, 1 s, to follow the recovery).
  static constexpr int kOutsideRun = 3;
  static constexpr int kOutsideMinWindow = 8;
  // Also a change: kLongFastRun samples in a row each under a quarter of
  // the prediction (by 2 ms or more), whatever the window holds. A slow
  // spell full of fast time slices (a CPU-starved executor: half its runs
  // as fast as an idle one's) puts its end inside the window's range and
  // under no quartile, so neither rule above sees it; such a spell rarely
  // has five fast runs in a row (the load-flips trace: at most two). (The
  // count is the namespace's kLongFastRun, shared with NetTerm's hold.)

  TermEstimate Predict(double batch, double kilobytes) const;
  // `hold_level`: the level does not restart lower on this sample (a run
  // far below it during a saturated spell, LatencyModel: ModelInput::
  // saturated) unless it ends kLongFastRun far faster ones in a row; the
  // sample enters the window, the other detectors start over.
  double Observe(double batch, double kilobytes, double exec_ms, bool start_over = false,
                 bool hold_level = false);
  uint64_t Count() const { return count_; }
  std::array<double, 3> Coefficients() const { return beta_; }
  const ResidualStats& residuals() const { return residuals_; }

 private:
  struct Sample {
    double batch, kb, ms;
  };
  void Refit();
  // -1 / +1 when `err` (a residual of the current fit) is below / above
  // every residual of the window's samples before the current run, as of
  // the last refit (kept there, so an observation costs no scan); 0 else.
  int Outside(double err) const;
  // The CUSUM and the runs beyond the window or much faster start over
  // (not long_fast_run_).
  void ResetRuns();
  std::deque<Sample> window_;
  int outside_run_ = 0;  // samples in a row beyond the window, of one sign
  int outside_sign_ = 0;
  int fast_run_ = 0;       // samples in a row much faster than predicted
  int long_fast_run_ = 0;  // the same without the window conditions
  int range_n_ = 0;        // samples behind lo_/hi_/q25_
  double lo_ = 0.0, hi_ = 0.0;
  double q25_ = 0.0;  // lower quartile of those samples' exec_ms
  std::array<double, 3> beta_{};
  uint64_t count_ = 0;
  int since_refit_ = 0;
  // Three errors far above (or below) in a row, not two: two stragglers of
  // a burst (tier-flips TX3: runs of 17 and 55 ms, two requests at once on
  // a 0.3-core cloud that runs one in 5-7 ms) restarted the fit at 36 ms,
  // and the fast runs after it took five requests to undo; a real step
  // costs one more sample, which the late term (LatencyModel) and a late
  // backup cover meanwhile.
  ChangeDetector change_{ChangeDetector::kDefaultK, ChangeDetector::kDefaultH, 3};
  double scale_ = 0.0;
  // The CUSUM's sigma: the window's scale, and while the window is short
  // (under kOutsideMinWindow samples, just after a change) at least the
  // scale of the last full window, shrunk when the level fell more than
  // twofold. A window of one or two samples has a scale near 0, and its
  // CUSUM took the executor's ordinary spread for a change (tier-flips TW4:
  // a 0.3-core cloud at 5-35 ms a run restarted its fit at 19.5 ms on runs
  // of 16 and 23 ms just after a restart at 5 ms, and two requests went to
  // a 45 ms edge).
  double Sigma(double predicted_ms) const;
  double settled_scale_ = 0.0;  // of the last refit over >= kOutsideMinWindow
  double settled_level_ = 0.0;  // that window's median exec_ms
  ResidualStats residuals_;
};

}  // namespace stoa::scheduler
