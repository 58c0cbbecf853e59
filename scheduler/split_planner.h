// SplitPlanner: per-request placement of a split ONNX function
// (docs/split.md), Neurosurgeon's choice made online. For every candidate
// it predicts
//
//   L = edge_ms + prefix_ms (edge) + rtt_ms + transfer_bytes / rate
//       + suffix_ms (target)
//
// and picks the smallest among running the whole function at the edge,
// the whole function on a remote target (transfer = the request's bytes),
// and every cut point (transfer = the cut tensor's bytes). Candidates are
// a plain list of (target, cut, prefix, suffix, bytes, link), so the same
// choice serves N targets; today the gateway offers the edge and the cloud.
//
// What is learned, per function (exponentially weighted, weight
// Options::weight on the newest observation):
//  - whole-function execution time per target (queue + exec as the executor
//    reports them);
//  - prefix time per cut at the edge and suffix time per cut per target,
//    seeded before their first observation by a proportional split of the
//    whole-function estimates by the cut's share of the model's estimated
//    FLOPs (SplitCut.prefix_cost);
//  - each cut's tensor size when the model's shapes are dynamic;
//  - the edge's own network time (edge_ms: the gateway-measured latency of
//    an edge call less the executor's time) per option (whole at the edge,
//    each cut's prefix), seeded by that of all edge calls: every option but
//    the whole remote run pays it. It differs by option on a throttled edge:
//    a prefix that spends the period's CPU quota leaves its answer to be
//    sent in the next period, after the executor's clock stopped;
//  - per target the link: transfer_ms = offset_ms + bytes / rate, fitted by
//    exponentially weighted least squares to the transfers of at least
//    16 KiB, whose transfer time is the gateway-measured latency less the
//    executor-reported time and the probed RTT. The offset takes what does
//    not grow with the size: per-call costs, and a link's burst allowance
//    (a token bucket sends its first bytes at once), which would make a
//    rate learned from small transfers alone too high. While the recent
//    sizes are too alike to separate the two, offset is 0 and rate the
//    ratio of the sums. Until the first sample the rate is
//    Options::default_rate_bytes_per_ms. The RTT comes from the caller
//    (the tier's status probes).
// Exploration: an option never observed (whole at the edge, whole on the
// target, then the cuts in order) is chosen first while any remains; after
// that, with probability Options::explore, the least observed option is
// chosen instead of the best, so estimates of unchosen cuts stay current.
//
// Thread safety: all methods may be called concurrently (one mutex per
// planner, held for a few arithmetic operations per candidate).
// Randomness is injected (Options::seed).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace stoa::scheduler {

// One way to run a request. cut "" is the whole function on `target`
// (prefix_ms 0); otherwise the prefix runs at the edge and the suffix on
// `target`. For the edge itself rate is infinite and rtt 0. edge_ms is the
// edge call's network time, for candidates that call the edge.
struct SplitCandidate {
  std::string target;
  std::string cut;
  double edge_ms = 0.0;
  double prefix_ms = 0.0;
  double suffix_ms = 0.0;
  double transfer_bytes = 0.0;
  double rate_bytes_per_ms = std::numeric_limits<double>::infinity();
  double link_offset_ms = 0.0;  // the link's fixed part of a transfer (may be < 0)
  double rtt_ms = 0.0;
};

// The predicted transfer time of a candidate's bytes (0 for none), ms.
// Inline: the REST codec's fuzz build renders it without this library.
inline double TransferMs(const SplitCandidate& c) {
  if (c.transfer_bytes <= 0 || !std::isfinite(c.rate_bytes_per_ms) || c.rate_bytes_per_ms <= 0) {
    return 0.0;
  }
  return std::max(0.0, c.link_offset_ms + c.transfer_bytes / c.rate_bytes_per_ms);
}
// The predicted end-to-end latency of a candidate, ms.
double PredictSplitMs(const SplitCandidate& candidate);
// The index of the candidate with the smallest prediction (the first on a
// tie); 0 for an empty list.
size_t BestSplitCandidate(std::span<const SplitCandidate> candidates);

// A cut point as registration stored it (v1::SplitCut).
struct SplitCutInfo {
  std::string tensor;
  int64_t bytes = -1;  // -1: dynamic, learned from the first run
  double prefix_cost = 0.0;
};

class SplitPlanner {
 public:
  struct Options {
    double weight = 0.3;
    double explore = 0.05;
    double default_rate_bytes_per_ms = 12'500.0;  // 100 Mbit/s
    uint64_t seed = 1;
  };
  struct Choice {
    std::string target;  // "edge" for the whole function at the edge
    std::string cut;     // "" = whole function
    double predicted_ms = 0.0;
    bool explored = false;
  };
  // What the planner knows of one function, for GET /v1/scheduler/state.
  struct CutView {
    SplitCandidate candidate;  // the terms of the prediction
    double predicted_ms = 0.0;
    int64_t observations = 0;  // of the option's least observed part
  };
  struct FunctionView {
    std::vector<CutView> options;  // in Decide's order
    double input_bytes = 0.0;      // of the last request decided; the predictions are for it
    double rate_bytes_per_ms = 0.0;
    double link_offset_ms = 0.0;
    int64_t rate_samples = 0;  // of the remote link
    double edge_ms = 0.0;
    std::optional<Choice> last;  // the last Decide for the function
  };

  SplitPlanner() : SplitPlanner(Options{}) {}
  explicit SplitPlanner(Options options);
  SplitPlanner(const SplitPlanner&) = delete;
  SplitPlanner& operator=(const SplitPlanner&) = delete;

  // Chooses for `function` with these cuts, a request of `input_bytes`, and
  // the remote target's probed round trip (NaN or negative: 0).
  Choice Decide(std::string_view function, std::span<const SplitCutInfo> cuts,
                std::string_view remote, double input_bytes, double rtt_ms);
  // The candidates Decide compares, with their predictions (tests, state).
  std::vector<SplitCandidate> Candidates(std::string_view function,
                                         std::span<const SplitCutInfo> cuts,
                                         std::string_view remote, double input_bytes,
                                         double rtt_ms);

  // A whole run on `target` ("edge" or a remote): the executor's queue +
  // exec time, and for a remote the network time left of the gateway's
  // latency for `bytes` sent, with the RTT then probed.
  void ObserveWhole(std::string_view function, std::string_view target, double exec_ms,
                    double net_ms, double bytes, double rtt_ms);
  // A prefix run at the edge: the executor's time, the network time left of
  // the gateway's latency, and the cut tensor's size.
  void ObservePrefix(std::string_view function, std::string_view cut, double exec_ms, double net_ms,
                     double cut_bytes);
  void ObserveSuffix(std::string_view function, std::string_view cut, std::string_view target,
                     double exec_ms, double net_ms, double bytes, double rtt_ms);
  void Forget(std::string_view function);

  // The options Decide would compare now for a request of the last size
  // decided, with their terms and observation counts.
  FunctionView View(std::string_view function, std::span<const SplitCutInfo> cuts,
                    std::string_view remote, double rtt_ms);
  // The link rate learned for `target`, bytes per ms.
  double RateBytesPerMs(std::string_view target);

 private:
  struct Ewma {
    double value = 0.0;
    int64_t n = 0;
    void Add(double x, double weight) {
      value = n == 0 ? x : value + weight * (x - value);
      ++n;
    }
  };
  // transfer_ms = offset + slope * bytes by exponentially weighted least
  // squares (the newest sample weighs 1, each older one (1 - weight) less).
  struct LinkFit {
    double s0 = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    int64_t n = 0;
    void Add(double bytes, double ms, double weight);
    // {offset_ms, ms per byte}; ms per byte <= 0 when nothing is known.
    std::pair<double, double> Line() const;
  };
  struct CutState {
    Ewma prefix;                                    // at the edge
    Ewma edge_net;                                  // the prefix call's network time
    Ewma bytes;                                     // for dynamic shapes
    absl::flat_hash_map<std::string, Ewma> suffix;  // by target
  };
  struct FunctionState {
    absl::flat_hash_map<std::string, Ewma> whole;     // by target
    absl::flat_hash_map<std::string, CutState> cuts;  // by cut tensor
    Ewma edge_net;        // of every edge call: the seed of an option not yet observed
    Ewma whole_edge_net;  // of the whole runs at the edge
    double last_input_bytes = 0.0;
    std::optional<Choice> last;
  };

  // The candidates in Decide's order (whole at the edge, whole on
  // `remote`, then the cuts), with how often each was observed in
  // `observations` (nullable).
  std::vector<SplitCandidate> CandidatesLocked(const FunctionState& state,
                                               std::span<const SplitCutInfo> cuts,
                                               const std::string& remote, double input_bytes,
                                               double rtt_ms, std::vector<int64_t>* observations)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ObserveLinkLocked(std::string_view target, double net_ms, double bytes, double rtt_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // {offset_ms, bytes per ms} of the link to `target`.
  std::pair<double, double> LinkLocked(std::string_view target) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, FunctionState> functions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, LinkFit> links_ ABSL_GUARDED_BY(mu_);  // by target
};

}  // namespace stoa::scheduler
