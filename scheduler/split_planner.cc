#include "scheduler/split_planner.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace stoa::scheduler {
namespace {

constexpr std::string_view kEdge = "edge";
// Transfers smaller than this say more about the round trip than the rate.
constexpr double kMinRateSampleBytes = 16 * 1024;

double Known(double rtt_ms) { return std::isfinite(rtt_ms) && rtt_ms > 0 ? rtt_ms : 0.0; }

std::string SuffixKey(std::string_view cut, std::string_view target) {
  return absl::StrCat(std::string(cut), "@", std::string(target));
}

}  // namespace

double PredictSplitMs(const SplitCandidate& c) {
  double transfer = 0.0;
  if (c.transfer_bytes > 0 && std::isfinite(c.rate_bytes_per_ms) && c.rate_bytes_per_ms > 0) {
    transfer = c.transfer_bytes / c.rate_bytes_per_ms;
  }
  return c.prefix_ms + c.rtt_ms + transfer + c.suffix_ms;
}

size_t BestSplitCandidate(std::span<const SplitCandidate> candidates) {
  size_t best = 0;
  for (size_t i = 1; i < candidates.size(); ++i) {
    if (PredictSplitMs(candidates[i]) < PredictSplitMs(candidates[best])) best = i;
  }
  return best;
}

SplitPlanner::SplitPlanner(Options options) : options_(options), rng_(options.seed) {}

double SplitPlanner::RateLocked(std::string_view target) const {
  auto it = ms_per_byte_.find(std::string(target));
  if (it == ms_per_byte_.end() || it->second.n == 0 || it->second.value <= 0) {
    return options_.default_rate_bytes_per_ms;
  }
  return 1.0 / it->second.value;
}

double SplitPlanner::RateBytesPerMs(std::string_view target) {
  absl::MutexLock lock(&mu_);
  return RateLocked(target);
}

std::vector<SplitCandidate> SplitPlanner::CandidatesLocked(const FunctionState& state,
                                                           std::span<const SplitCutInfo> cuts,
                                                           std::string_view remote,
                                                           double input_bytes, double rtt_ms) {
  auto value = [](const absl::flat_hash_map<std::string, Ewma>& m, const std::string& key,
                  double fallback) {
    auto it = m.find(key);
    return it == m.end() || it->second.n == 0 ? fallback : it->second.value;
  };
  const double rtt = Known(rtt_ms);
  const double rate = RateLocked(remote);
  const double edge_whole = value(state.whole, std::string(kEdge), 0.0);
  const double remote_whole = value(state.whole, std::string(remote), 0.0);
  std::vector<SplitCandidate> out;
  out.reserve(cuts.size() + 2);
  out.push_back({.target = std::string(kEdge),
                 .cut = "",
                 .prefix_ms = 0.0,
                 .suffix_ms = edge_whole,
                 .transfer_bytes = 0.0,
                 .rate_bytes_per_ms = std::numeric_limits<double>::infinity(),
                 .rtt_ms = 0.0});
  out.push_back({.target = std::string(remote),
                 .cut = "",
                 .prefix_ms = 0.0,
                 .suffix_ms = remote_whole,
                 .transfer_bytes = input_bytes,
                 .rate_bytes_per_ms = rate,
                 .rtt_ms = rtt});
  for (const SplitCutInfo& cut : cuts) {
    const double bytes = cut.bytes >= 0 ? static_cast<double>(cut.bytes)
                                        : value(state.bytes, cut.tensor, input_bytes);
    out.push_back({.target = std::string(remote),
                   .cut = cut.tensor,
                   .prefix_ms = value(state.prefix, cut.tensor, cut.prefix_cost * edge_whole),
                   .suffix_ms = value(state.suffix, SuffixKey(cut.tensor, remote),
                                      (1.0 - cut.prefix_cost) * remote_whole),
                   .transfer_bytes = bytes,
                   .rate_bytes_per_ms = rate,
                   .rtt_ms = rtt});
  }
  return out;
}

int64_t SplitPlanner::ObservationsLocked(const FunctionState& state,
                                         const SplitCandidate& c) const {
  auto count = [](const absl::flat_hash_map<std::string, Ewma>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? int64_t{0} : it->second.n;
  };
  if (c.cut.empty()) return count(state.whole, c.target);
  return std::min(count(state.prefix, c.cut), count(state.suffix, SuffixKey(c.cut, c.target)));
}

std::vector<SplitCandidate> SplitPlanner::Candidates(std::string_view function,
                                                     std::span<const SplitCutInfo> cuts,
                                                     std::string_view remote, double input_bytes,
                                                     double rtt_ms) {
  absl::MutexLock lock(&mu_);
  return CandidatesLocked(functions_[std::string(function)], cuts, remote, input_bytes, rtt_ms);
}

SplitPlanner::Choice SplitPlanner::Decide(std::string_view function,
                                          std::span<const SplitCutInfo> cuts,
                                          std::string_view remote, double input_bytes,
                                          double rtt_ms) {
  absl::MutexLock lock(&mu_);
  const FunctionState& state = functions_[std::string(function)];
  const std::vector<SplitCandidate> candidates =
      CandidatesLocked(state, cuts, remote, input_bytes, rtt_ms);
  size_t pick = BestSplitCandidate(candidates);
  bool explored = false;
  size_t least = 0;
  int64_t least_n = ObservationsLocked(state, candidates[0]);
  for (size_t i = 1; i < candidates.size() && least_n > 0; ++i) {
    const int64_t n = ObservationsLocked(state, candidates[i]);
    if (n < least_n) least = i, least_n = n;
  }
  if (least_n == 0 || (options_.explore > 0 &&
                       std::uniform_real_distribution<double>(0, 1)(rng_) < options_.explore)) {
    explored = least != pick;
    pick = least;
  }
  const SplitCandidate& c = candidates[pick];
  return Choice{
      .target = c.target, .cut = c.cut, .predicted_ms = PredictSplitMs(c), .explored = explored};
}

void SplitPlanner::ObserveLinkLocked(std::string_view target, double net_ms, double bytes,
                                     double rtt_ms) {
  if (bytes < kMinRateSampleBytes || !std::isfinite(net_ms)) return;
  const double transfer_ms = std::max(0.0, net_ms - Known(rtt_ms));
  // A transfer faster than 10 GB/s is a measurement artefact, not a rate.
  ms_per_byte_[std::string(target)].Add(std::max(transfer_ms / bytes, 1e-7), options_.weight);
}

void SplitPlanner::ObserveWhole(std::string_view function, std::string_view target, double exec_ms,
                                double net_ms, double bytes, double rtt_ms) {
  absl::MutexLock lock(&mu_);
  functions_[std::string(function)].whole[std::string(target)].Add(exec_ms, options_.weight);
  if (target != kEdge) ObserveLinkLocked(target, net_ms, bytes, rtt_ms);
}

void SplitPlanner::ObservePrefix(std::string_view function, std::string_view cut, double exec_ms,
                                 double cut_bytes) {
  absl::MutexLock lock(&mu_);
  FunctionState& state = functions_[std::string(function)];
  state.prefix[std::string(cut)].Add(exec_ms, options_.weight);
  state.bytes[std::string(cut)].Add(cut_bytes, options_.weight);
}

void SplitPlanner::ObserveSuffix(std::string_view function, std::string_view cut,
                                 std::string_view target, double exec_ms, double net_ms,
                                 double bytes, double rtt_ms) {
  absl::MutexLock lock(&mu_);
  functions_[std::string(function)].suffix[SuffixKey(cut, target)].Add(exec_ms, options_.weight);
  ObserveLinkLocked(target, net_ms, bytes, rtt_ms);
}

void SplitPlanner::Forget(std::string_view function) {
  absl::MutexLock lock(&mu_);
  functions_.erase(std::string(function));
}

std::vector<SplitPlanner::CutView> SplitPlanner::View(std::string_view function,
                                                      std::span<const SplitCutInfo> cuts,
                                                      std::string_view remote, double input_bytes,
                                                      double rtt_ms) {
  absl::MutexLock lock(&mu_);
  const FunctionState& state = functions_[std::string(function)];
  std::vector<CutView> out;
  for (const SplitCandidate& c : CandidatesLocked(state, cuts, remote, input_bytes, rtt_ms)) {
    out.push_back({.cut = c.cut,
                   .target = c.target,
                   .predicted_ms = PredictSplitMs(c),
                   .observations = ObservationsLocked(state, c)});
  }
  return out;
}

}  // namespace stoa::scheduler
