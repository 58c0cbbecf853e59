#include "scheduler/split_planner.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace stoa::scheduler {
namespace {

constexpr std::string_view kEdge = "edge";
// Transfers smaller than this say more about the round trip than the rate.
constexpr double kMinRateSampleBytes = 16 * 1024;

double Known(double rtt_ms) { return std::isfinite(rtt_ms) && rtt_ms > 0 ? rtt_ms : 0.0; }

}  // namespace

double PredictSplitMs(const SplitCandidate& c) {
  return c.edge_ms + c.prefix_ms + c.rtt_ms + TransferMs(c) + c.suffix_ms;
}

size_t BestSplitCandidate(std::span<const SplitCandidate> candidates) {
  size_t best = 0;
  for (size_t i = 1; i < candidates.size(); ++i) {
    if (PredictSplitMs(candidates[i]) < PredictSplitMs(candidates[best])) best = i;
  }
  return best;
}

SplitPlanner::SplitPlanner(Options options) : options_(options), rng_(options.seed) {}

void SplitPlanner::LinkFit::Add(double bytes, double ms, double weight) {
  const double keep = n == 0 ? 0.0 : 1.0 - weight;
  s0 = keep * s0 + 1.0;
  sx = keep * sx + bytes;
  sy = keep * sy + ms;
  sxx = keep * sxx + bytes * bytes;
  sxy = keep * sxy + bytes * ms;
  ++n;
}

std::pair<double, double> SplitPlanner::LinkFit::Line() const {
  if (n == 0 || sx <= 0) return {0.0, 0.0};
  // The sizes must differ enough (a coefficient of variation of at least
  // ~20 %) for the offset and the slope to be told apart.
  const double spread = s0 * sxx - sx * sx;
  if (n >= 3 && spread > 0.04 * sx * sx) {
    const double slope = (s0 * sxy - sx * sy) / spread;
    if (slope > 0) return {(sy - slope * sx) / s0, slope};
  }
  return {0.0, sy / sx};
}

std::pair<double, double> SplitPlanner::LinkLocked(std::string_view target) const {
  auto it = links_.find(std::string(target));
  if (it == links_.end()) return {0.0, options_.default_rate_bytes_per_ms};
  const auto [offset_ms, ms_per_byte] = it->second.Line();
  if (ms_per_byte <= 0) return {0.0, options_.default_rate_bytes_per_ms};
  // A transfer faster than 10 GB/s is a measurement artefact, not a rate.
  return {offset_ms, 1.0 / std::max(ms_per_byte, 1e-7)};
}

double SplitPlanner::RateBytesPerMs(std::string_view target) {
  absl::MutexLock lock(&mu_);
  return LinkLocked(target).second;
}

std::vector<SplitCandidate> SplitPlanner::CandidatesLocked(const FunctionState& state,
                                                           std::span<const SplitCutInfo> cuts,
                                                           const std::string& remote,
                                                           double input_bytes, double rtt_ms,
                                                           std::vector<int64_t>* observations) {
  const double rtt = Known(rtt_ms);
  const auto [offset_ms, rate] = LinkLocked(remote);
  const std::string edge(kEdge);
  auto whole = [&](const std::string& target) {
    auto it = state.whole.find(target);
    return it == state.whole.end() ? Ewma{} : it->second;
  };
  const Ewma edge_whole = whole(edge), remote_whole = whole(remote);
  const double edge_ms = state.edge_net.value;  // the seed
  auto net = [edge_ms](const Ewma& own) { return own.n > 0 ? own.value : edge_ms; };
  std::vector<SplitCandidate> out;
  out.reserve(cuts.size() + 2);
  out.push_back({.target = edge,
                 .cut = "",
                 .edge_ms = net(state.whole_edge_net),
                 .prefix_ms = 0.0,
                 .suffix_ms = edge_whole.value,
                 .transfer_bytes = 0.0,
                 .rate_bytes_per_ms = std::numeric_limits<double>::infinity(),
                 .link_offset_ms = 0.0,
                 .rtt_ms = 0.0});
  out.push_back({.target = remote,
                 .cut = "",
                 .edge_ms = 0.0,
                 .prefix_ms = 0.0,
                 .suffix_ms = remote_whole.value,
                 .transfer_bytes = input_bytes,
                 .rate_bytes_per_ms = rate,
                 .link_offset_ms = offset_ms,
                 .rtt_ms = rtt});
  if (observations != nullptr) *observations = {edge_whole.n, remote_whole.n};
  for (const SplitCutInfo& cut : cuts) {
    static const CutState kNone;
    auto found = state.cuts.find(cut.tensor);
    const CutState& cs = found == state.cuts.end() ? kNone : found->second;
    auto suffix_it = cs.suffix.find(remote);
    const Ewma suffix = suffix_it == cs.suffix.end() ? Ewma{} : suffix_it->second;
    double bytes = static_cast<double>(cut.bytes);
    if (cut.bytes < 0) bytes = cs.bytes.n > 0 ? cs.bytes.value : input_bytes;
    out.push_back(
        {.target = remote,
         .cut = cut.tensor,
         .edge_ms = net(cs.edge_net),
         .prefix_ms = cs.prefix.n > 0 ? cs.prefix.value : cut.prefix_cost * edge_whole.value,
         .suffix_ms = suffix.n > 0 ? suffix.value : (1.0 - cut.prefix_cost) * remote_whole.value,
         .transfer_bytes = bytes,
         .rate_bytes_per_ms = rate,
         .link_offset_ms = offset_ms,
         .rtt_ms = rtt});
    if (observations != nullptr) observations->push_back(std::min(cs.prefix.n, suffix.n));
  }
  return out;
}

std::vector<SplitCandidate> SplitPlanner::Candidates(std::string_view function,
                                                     std::span<const SplitCutInfo> cuts,
                                                     std::string_view remote, double input_bytes,
                                                     double rtt_ms) {
  absl::MutexLock lock(&mu_);
  return CandidatesLocked(functions_[std::string(function)], cuts, std::string(remote), input_bytes,
                          rtt_ms, nullptr);
}

SplitPlanner::Choice SplitPlanner::Decide(std::string_view function,
                                          std::span<const SplitCutInfo> cuts,
                                          std::string_view remote, double input_bytes,
                                          double rtt_ms) {
  absl::MutexLock lock(&mu_);
  FunctionState& state = functions_[std::string(function)];
  std::vector<int64_t> n;
  const std::vector<SplitCandidate> candidates =
      CandidatesLocked(state, cuts, std::string(remote), input_bytes, rtt_ms, &n);
  size_t pick = BestSplitCandidate(candidates);
  const size_t least = std::min_element(n.begin(), n.end()) - n.begin();
  bool explored = false;
  if (n[least] == 0 || (options_.explore > 0 &&
                        std::uniform_real_distribution<double>(0, 1)(rng_) < options_.explore)) {
    explored = least != pick;
    pick = least;
  }
  const SplitCandidate& c = candidates[pick];
  state.last_input_bytes = input_bytes;
  state.last = Choice{
      .target = c.target, .cut = c.cut, .predicted_ms = PredictSplitMs(c), .explored = explored};
  return *state.last;
}

void SplitPlanner::ObserveLinkLocked(std::string_view target, double net_ms, double bytes,
                                     double rtt_ms) {
  if (bytes < kMinRateSampleBytes || !std::isfinite(net_ms)) return;
  links_[std::string(target)].Add(bytes, std::max(0.0, net_ms - Known(rtt_ms)), options_.weight);
}

void SplitPlanner::ObserveWhole(std::string_view function, std::string_view target, double exec_ms,
                                double net_ms, double bytes, double rtt_ms) {
  absl::MutexLock lock(&mu_);
  FunctionState& state = functions_[std::string(function)];
  state.whole[std::string(target)].Add(exec_ms, options_.weight);
  if (target != kEdge) {
    ObserveLinkLocked(target, net_ms, bytes, rtt_ms);
  } else if (std::isfinite(net_ms)) {
    state.edge_net.Add(std::max(0.0, net_ms), options_.weight);
    state.whole_edge_net.Add(std::max(0.0, net_ms), options_.weight);
  }
}

void SplitPlanner::ObservePrefix(std::string_view function, std::string_view cut, double exec_ms,
                                 double net_ms, double cut_bytes) {
  absl::MutexLock lock(&mu_);
  FunctionState& fn = functions_[std::string(function)];
  CutState& state = fn.cuts[std::string(cut)];
  state.prefix.Add(exec_ms, options_.weight);
  state.bytes.Add(cut_bytes, options_.weight);
  if (std::isfinite(net_ms)) {
    fn.edge_net.Add(std::max(0.0, net_ms), options_.weight);
    state.edge_net.Add(std::max(0.0, net_ms), options_.weight);
  }
}

void SplitPlanner::ObserveSuffix(std::string_view function, std::string_view cut,
                                 std::string_view target, double exec_ms, double net_ms,
                                 double bytes, double rtt_ms) {
  absl::MutexLock lock(&mu_);
  functions_[std::string(function)].cuts[std::string(cut)].suffix[std::string(target)].Add(
      exec_ms, options_.weight);
  ObserveLinkLocked(target, net_ms, bytes, rtt_ms);
}

void SplitPlanner::Forget(std::string_view function) {
  absl::MutexLock lock(&mu_);
  functions_.erase(std::string(function));
}

SplitPlanner::FunctionView SplitPlanner::View(std::string_view function,
                                              std::span<const SplitCutInfo> cuts,
                                              std::string_view remote, double rtt_ms) {
  absl::MutexLock lock(&mu_);
  static const FunctionState kNone;  // a function never decided: the priors
  auto found = functions_.find(std::string(function));
  const FunctionState& state = found == functions_.end() ? kNone : found->second;
  std::vector<int64_t> n;
  const std::vector<SplitCandidate> candidates =
      CandidatesLocked(state, cuts, std::string(remote), state.last_input_bytes, rtt_ms, &n);
  FunctionView view;
  for (size_t i = 0; i < candidates.size(); ++i) {
    view.options.push_back({.candidate = candidates[i],
                            .predicted_ms = PredictSplitMs(candidates[i]),
                            .observations = n[i]});
  }
  view.input_bytes = state.last_input_bytes;
  std::tie(view.link_offset_ms, view.rate_bytes_per_ms) = LinkLocked(remote);
  auto link = links_.find(std::string(remote));
  view.rate_samples = link == links_.end() ? 0 : link->second.n;
  view.edge_ms = state.edge_net.value;
  view.last = state.last;
  return view;
}

}  // namespace stoa::scheduler
