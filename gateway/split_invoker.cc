#include "gateway/split_invoker.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stoa::gateway {
namespace {

using scheduler::Tier;

constexpr std::string_view kRemote = "cloud";

uint64_t RequestBytes(const v1::InvokeRequest& request) {
  uint64_t bytes = request.raw().size();
  for (const v1::Tensor& t : request.inputs()) bytes += t.raw().size();
  return bytes;
}

// The executor's own time for one call (queue + exec), and what is left of
// the gateway's latency for the network (cold-start loading excluded).
double ExecMs(const DispatchResult& r) {
  return (r.response.queue_us() + r.response.exec_us()) / 1000.0;
}
double NetMs(const DispatchResult& r) {
  return std::max(0.0, r.latency_ms - ExecMs(r) - r.response.load_us() / 1000.0);
}

bool AllowsBothTiers(const v1::FunctionSpec& spec) {
  if (spec.tiers().empty()) return true;
  bool edge = false, cloud = false;
  for (const std::string& t : spec.tiers()) edge |= t == "edge", cloud |= t == "cloud";
  return edge && cloud;
}

absl::Status NoSuchCut(const v1::FunctionSpec& spec, const std::string& cut) {
  std::vector<std::string> names;
  for (const v1::SplitCut& c : spec.split_cuts()) names.push_back(c.tensor());
  return absl::InvalidArgumentError(
      absl::StrCat("query parameter 'split': function '", spec.name(), "' has no cut point '", cut,
                   "'; its cuts are: ", absl::StrJoin(names, ", "), " (or 'none')"));
}

}  // namespace

std::vector<scheduler::SplitCutInfo> SplitCutsOf(const v1::FunctionSpec& spec) {
  std::vector<scheduler::SplitCutInfo> cuts;
  cuts.reserve(spec.split_cuts_size());
  for (const v1::SplitCut& c : spec.split_cuts()) {
    cuts.push_back({.tensor = c.tensor(), .bytes = c.bytes(), .prefix_cost = c.prefix_cost()});
  }
  return cuts;
}

struct SplitInvoker::Call {
  StoredFunction function;
  v1::InvokeRequest request;
  std::string cut;
  DispatchCallback done;
  common::CancelSignalPtr cancel;
  int64_t start_us = 0;
  int64_t deadline_us = 0;  // the function's timeout from start_us: both parts' budget
  double predicted_ms = 0.0;
  double rtt_ms = 0.0;
  uint64_t prefix_load_us = 0;
  bool prefix_cold = false;
};

SplitInvoker::SplitInvoker(Invoker& inner, scheduler::SplitPlanner& planner,
                           const common::Clock& clock, common::metrics::Registry& metrics,
                           Options options)
    : inner_(inner),
      planner_(planner),
      options_(options),
      clock_(clock),
      decisions_(metrics.AddCounter(
          "stoa_split_decisions_total",
          "Placements of split functions: whole_edge, whole_cloud or split at a cut.")) {}

void SplitInvoker::Count(const std::string& function, const std::string& placement,
                         const std::string& cut, const std::string& reason) {
  decisions_
      .Add({{"function", function}, {"placement", placement}, {"cut", cut}, {"reason", reason}})
      ->Increment();
}

double SplitInvoker::CloudRttMs() const {
  const TierHealth cloud = inner_.Health(Tier::kCloud);
  if (cloud.last_probe != TierHealth::Probe::kOk || !(cloud.last_probe_rtt_ms >= 0)) return 0.0;
  const int64_t now_us = clock_.NowMicros();
  absl::MutexLock lock(&rtt_mu_);
  while (!rtt_window_.empty() && rtt_window_.back().second >= cloud.last_probe_rtt_ms) {
    rtt_window_.pop_back();
  }
  rtt_window_.emplace_back(now_us, cloud.last_probe_rtt_ms);
  while (rtt_window_.front().first < now_us - kRttWindowUs) rtt_window_.pop_front();
  return rtt_window_.front().second;
}

void SplitInvoker::Invoke(const StoredFunction& function, v1::InvokeRequest request,
                          std::optional<Tier> forced, DispatchCallback done,
                          common::CancelSignalPtr cancel) {
  const v1::FunctionSpec& spec = function.spec;
  const std::string forced_cut = request.split_cut();
  request.clear_split_cut();
  if (!spec.split()) {
    if (!forced_cut.empty()) {
      return done(absl::InvalidArgumentError(
          absl::StrCat("query parameter 'split' needs a function registered with \"split\": "
                       "true; '",
                       spec.name(), "' is not")));
    }
    return inner_.Invoke(function, std::move(request), forced, std::move(done), std::move(cancel));
  }
  if (!forced_cut.empty() && forced.has_value()) {
    return done(absl::InvalidArgumentError(
        "query parameters 'split' and 'tier' cannot be combined: a split runs on both tiers"));
  }
  const bool both = AllowsBothTiers(spec) && inner_.configured_tiers() == scheduler::TierSet::All();
  if (!both && !forced_cut.empty() && forced_cut != "none") {
    return done(absl::InvalidArgumentError(
        absl::StrCat("query parameter 'split': function '", spec.name(),
                     "' cannot be split here: it needs the edge and the cloud tier")));
  }
  if (forced_cut == "none" || forced.has_value() || !both) {
    if (forced_cut == "none") Count(spec.name(), "whole", "", "forced");
    return RunWhole(function, std::move(request), forced, std::move(done), std::move(cancel));
  }
  auto call = std::make_shared<Call>();
  call->rtt_ms = CloudRttMs();
  if (!forced_cut.empty()) {
    bool known = false;
    for (const v1::SplitCut& c : spec.split_cuts()) known |= c.tensor() == forced_cut;
    if (!known) return done(NoSuchCut(spec, forced_cut));
    call->cut = forced_cut;
    Count(spec.name(), "split", forced_cut, "forced");
  } else {
    const std::vector<scheduler::SplitCutInfo> cuts = SplitCutsOf(spec);
    const scheduler::SplitPlanner::Choice choice = planner_.Decide(
        spec.name(), cuts, kRemote, static_cast<double>(RequestBytes(request)), call->rtt_ms);
    const std::string reason = choice.explored ? "explore" : "planner";
    if (choice.cut.empty()) {
      Count(spec.name(), absl::StrCat("whole_", choice.target), "", reason);
      return RunWhole(function, std::move(request), scheduler::ParseTier(choice.target),
                      std::move(done), std::move(cancel));
    }
    call->cut = choice.cut;
    call->predicted_ms = choice.predicted_ms;
    Count(spec.name(), "split", choice.cut, reason);
  }
  call->function = function;
  call->request = std::move(request);
  call->done = std::move(done);
  call->cancel = std::move(cancel);
  call->start_us = clock_.NowMicros();
  const uint32_t timeout_ms =
      spec.limits().timeout_ms() > 0 ? spec.limits().timeout_ms() : options_.default_timeout_ms;
  call->deadline_us = call->start_us + int64_t{timeout_ms} * 1000;
  RunPrefix(std::move(call));
}

void SplitInvoker::RunWhole(const StoredFunction& function, v1::InvokeRequest request,
                            std::optional<Tier> tier, DispatchCallback done,
                            common::CancelSignalPtr cancel) {
  const double bytes = static_cast<double>(RequestBytes(request));
  const double rtt_ms = CloudRttMs();
  inner_.Invoke(
      function, std::move(request), tier,
      [this, name = function.spec.name(), bytes, rtt_ms,
       done = std::move(done)](absl::StatusOr<DispatchResult> result) {
        if (result.ok() && !result->cold_start) {
          planner_.ObserveWhole(name, scheduler::TierName(result->tier), ExecMs(*result),
                                NetMs(*result), bytes, rtt_ms);
        }
        done(std::move(result));
      },
      std::move(cancel));
}

void SplitInvoker::RunPrefix(std::shared_ptr<Call> call) {
  v1::InvokeRequest prefix = std::move(call->request);  // only the prefix reads it
  prefix.set_split_part(v1::SPLIT_PART_PREFIX);
  prefix.set_split_cut(call->cut);
  const StoredFunction& function = call->function;
  inner_.Invoke(
      function, std::move(prefix), Tier::kEdge,
      [this, call](absl::StatusOr<DispatchResult> result) {
        if (!result.ok()) {
          return call->done(absl::Status(
              result.status().code(), absl::StrCat("split at '", call->cut,
                                                   "', edge prefix: ", result.status().message())));
        }
        if (result->response.outputs_size() != 1) {
          return call->done(absl::InternalError(
              absl::StrCat("split at '", call->cut, "': the prefix returned ",
                           result->response.outputs_size(), " tensors, expected 1")));
        }
        if (!result->cold_start) {
          planner_.ObservePrefix(call->function.spec.name(), call->cut, ExecMs(*result),
                                 NetMs(*result),
                                 static_cast<double>(result->response.outputs(0).raw().size()));
        }
        call->prefix_cold = result->cold_start;
        call->prefix_load_us = result->response.load_us();
        RunSuffix(call, std::move(result->response), Tier::kCloud);
      },
      call->cancel);
}

void SplitInvoker::RunSuffix(std::shared_ptr<Call> call, v1::InvokeResponse prefix, Tier tier) {
  // The suffix's budget is what is left of the function's timeout; the
  // dispatcher takes a call's deadline from the spec it is given.
  const int64_t left_us = call->deadline_us - clock_.NowMicros();
  if (left_us < 1000) {
    return call->done(absl::DeadlineExceededError(absl::StrCat(
        "split at '", call->cut, "': the edge prefix took ",
        (clock_.NowMicros() - call->start_us) / 1000, " ms of the function's ",
        (call->deadline_us - call->start_us) / 1000, " ms timeout; no time left for the ",
        std::string(scheduler::TierName(tier)), " suffix")));
  }
  StoredFunction function = call->function;
  function.spec.mutable_limits()->set_timeout_ms(static_cast<uint32_t>(left_us / 1000));
  v1::InvokeRequest suffix;
  *suffix.add_inputs() = prefix.outputs(0);
  suffix.set_split_part(v1::SPLIT_PART_SUFFIX);
  suffix.set_split_cut(call->cut);
  const double bytes = static_cast<double>(RequestBytes(suffix));
  const int64_t prefix_ms = (clock_.NowMicros() - call->start_us) / 1000;
  inner_.Invoke(
      function, std::move(suffix), tier,
      [this, call, tier, bytes, prefix_ms,
       prefix = std::move(prefix)](absl::StatusOr<DispatchResult> result) mutable {
        if (!result.ok() && tier == Tier::kCloud &&
            result.status().code() == absl::StatusCode::kUnavailable) {
          return RunSuffix(call, std::move(prefix), Tier::kEdge);  // the cloud is out of reach
        }
        if (!result.ok()) {
          std::string why =
              absl::StrCat("split at '", call->cut, "', ", std::string(scheduler::TierName(tier)),
                           " suffix: ", result.status().message());
          if (result.status().code() == absl::StatusCode::kDeadlineExceeded) {
            absl::StrAppend(&why, "; the edge prefix took ", prefix_ms, " ms of the function's ",
                            (call->deadline_us - call->start_us) / 1000, " ms timeout");
          }
          return call->done(absl::Status(result.status().code(), why));
        }
        if (!result->cold_start && tier == Tier::kCloud) {
          planner_.ObserveSuffix(call->function.spec.name(), call->cut, kRemote, ExecMs(*result),
                                 NetMs(*result), bytes, call->rtt_ms);
        }
        result->split = call->cut;
        result->latency_ms = (clock_.NowMicros() - call->start_us) / 1000.0;
        result->predicted_ms = call->predicted_ms;
        result->cold_start |= call->prefix_cold;
        result->response.set_load_us(result->response.load_us() + call->prefix_load_us);
        call->done(std::move(result));
      },
      call->cancel);
}

std::vector<std::pair<std::string, scheduler::SplitPlanner::FunctionView>> SplitInvoker::Views(
    const std::vector<v1::FunctionSpec>& specs) const {
  std::vector<std::pair<std::string, scheduler::SplitPlanner::FunctionView>> out;
  for (const v1::FunctionSpec& spec : specs) {
    if (!spec.split()) continue;
    out.emplace_back(spec.name(),
                     planner_.View(spec.name(), SplitCutsOf(spec), kRemote, CloudRttMs()));
  }
  return out;
}

void SplitInvoker::Forget(const std::string& function, const std::string& sha256) {
  planner_.Forget(function);
  decisions_.RemoveMatching("function", function);
  inner_.Forget(function, sha256);
}

}  // namespace stoa::gateway
