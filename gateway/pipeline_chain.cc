#include "gateway/pipeline_chain.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "proto/stoa/v1/datatype.h"

namespace stoa::gateway {
namespace {

using scheduler::Tier;

constexpr double kSizeWeight = 0.2;  // EWMA weight of a new output size

// The function's targets this gateway has (its spec's `tiers`, else all).
scheduler::TierSet Allowed(const v1::FunctionSpec& spec, scheduler::TierSet configured) {
  scheduler::TierSet named;
  for (const std::string& name : spec.tiers()) {
    for (Tier t : scheduler::AllTiers()) {
      if (scheduler::ParseTierOrClass(name).Contains(t)) named.Add(t);
    }
  }
  if (named.Empty()) named = scheduler::TierSet::All();
  scheduler::TierSet out;
  for (Tier t : scheduler::AllTiers()) {
    if (named.Contains(t) && configured.Contains(t)) out.Add(t);
  }
  return out;
}

// A target served by gRPC executors: one, a pool ("pool[…]") or announced
// members ("target NAME[…]", a pool too). A pool sends a chain to one
// member and loads every stage the member lacks there first
// (PoolExecutor::LoadNextOrRun). Not the in-process edge: its stages
// already pass data in memory.
bool Remote(const Invoker& tiers, Tier t) {
  const TierHealth h = tiers.Health(t);
  return h.configured && (h.executor.rfind("grpc:", 0) == 0 || h.executor.rfind("pool[", 0) == 0 ||
                          h.executor.rfind("target ", 0) == 0);
}

double Predict(scheduler::Scheduler& s, const std::string& function, Tier t, uint64_t bytes) {
  scheduler::Features features;
  features.request_bytes = bytes;
  return s.PredictMs(function, t, features);
}

// Stage k's target when it is known before it runs; nullopt: let the
// dispatcher decide (no prediction yet, or no allowed target).
std::optional<Tier> FirstTarget(scheduler::Scheduler& s, const Invoker& tiers,
                                const ChainCandidate& stage, uint64_t input_bytes) {
  if (stage.forced) return stage.forced;
  std::optional<Tier> best;
  double best_ms = std::numeric_limits<double>::infinity();
  const scheduler::TierSet allowed = Allowed(stage.function.spec, tiers.configured_tiers());
  for (Tier t : scheduler::AllTiers()) {
    if (!allowed.Contains(t)) continue;
    const double ms = Predict(s, stage.function.spec.name(), t, input_bytes);
    if (ms <= 0.0) return std::nullopt;
    if (ms < best_ms) best_ms = ms, best = t;
  }
  return best;
}

// Whether `stage` should stay on `target`, where its input already is.
bool Stays(scheduler::Scheduler& s, const Invoker& tiers, const ChainCandidate& stage, Tier target,
           uint64_t input_bytes) {
  const v1::FunctionSpec& spec = stage.function.spec;
  const scheduler::TierSet allowed = Allowed(spec, tiers.configured_tiers());
  // A stage its spec keeps off the target runs alone (and is refused there
  // by the dispatcher when forced, as without chains).
  if (spec.split() || !allowed.Contains(target)) return false;
  if (stage.forced) return *stage.forced == target;
  const double there = Predict(s, spec.name(), target, 0);
  if (there <= 0.0) return false;
  const double rtt = tiers.Health(target).last_probe_rtt_ms;
  const double stay = std::max(0.0, there - (std::isfinite(rtt) ? rtt : 0.0));
  for (Tier t : scheduler::AllTiers()) {
    if (t == target || !allowed.Contains(t)) continue;
    const double elsewhere = Predict(s, spec.name(), t, input_bytes);
    if (elsewhere <= 0.0) return false;  // unknown there: let the scheduler explore
    if (elsewhere < stay) return false;
  }
  return true;
}

uint64_t Bytes(const v1::InvokeResponse& response) {
  uint64_t bytes = response.raw().size();
  for (const v1::Tensor& t : response.outputs()) bytes += t.raw().size();
  return bytes;
}

}  // namespace

void OutputSizes::Observe(const std::string& function, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = learned_.try_emplace(function, static_cast<double>(bytes));
  if (!inserted) it->second += kSizeWeight * (static_cast<double>(bytes) - it->second);
}

uint64_t OutputSizes::Predict(const v1::FunctionSpec& spec, uint64_t input_bytes) const {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = learned_.find(spec.name()); it != learned_.end()) {
      return static_cast<uint64_t>(it->second);
    }
  }
  if (spec.outputs_size() == 0) return input_bytes;
  uint64_t declared = 0;
  for (const v1::TensorSignature& out : spec.outputs()) {
    uint64_t elements = 1;
    for (int64_t d : out.shape()) elements *= d > 0 ? static_cast<uint64_t>(d) : 1;
    declared += elements * v1::DataTypeBytes(out.datatype());
  }
  return declared;
}

ChainPlan PlanChain(scheduler::Scheduler& scheduler, const Invoker& tiers, ChainCandidate first,
                    const NextStage& next, uint64_t input_bytes, const OutputSizes& sizes) {
  ChainPlan plan;
  if (first.function.spec.split()) return plan;
  const std::optional<Tier> target = FirstTarget(scheduler, tiers, first, input_bytes);
  if (!target || !Remote(tiers, *target)) return plan;
  uint64_t bytes = sizes.Predict(first.function.spec, input_bytes);
  std::vector<ChainCandidate> stages;
  stages.push_back(std::move(first));
  while (std::optional<ChainCandidate> stage = next()) {
    if (!Stays(scheduler, tiers, *stage, *target, bytes)) break;
    bytes = sizes.Predict(stage->function.spec, bytes);
    stages.push_back(*std::move(stage));
  }
  if (stages.size() >= 2) plan = {target, std::move(stages)};
  return plan;
}

StoredFunction ChainCall(std::span<const ChainCandidate> stages, v1::InvokeRequest& request) {
  StoredFunction call = stages[0].function;
  uint64_t timeout_ms = 0;
  bool every_stage_has_one = true;
  for (size_t i = 0; i < stages.size(); ++i) {
    const v1::FunctionSpec& spec = stages[i].function.spec;
    timeout_ms += spec.limits().timeout_ms();
    every_stage_has_one = every_stage_has_one && spec.limits().timeout_ms() > 0;
    if (i == 0) continue;
    call.chain.push_back(stages[i].function);
    v1::ChainStage* stage = request.add_chain();
    stage->set_function(spec.name());
    stage->set_sha256(spec.sha256());
    stage->set_label(stages[i].label);
    stage->set_runtime(spec.runtime());
    *stage->mutable_inputs() = spec.inputs();
  }
  call.spec.mutable_limits()->set_timeout_ms(
      every_stage_has_one ? static_cast<uint32_t>(std::min<uint64_t>(timeout_ms, UINT32_MAX)) : 0);
  return call;
}

std::vector<ChainMember> ChainMembersOf(const StoredFunction& function) {
  std::vector<ChainMember> members;
  members.reserve(function.chain.size());
  for (const StoredFunction& stage : function.chain) {
    members.push_back({stage.spec.name(),
                       LoadedFunctions::Key(stage.spec.name(), stage.spec.sha256()), stage.spec,
                       stage.artifact_path});
  }
  return members;
}

std::vector<std::pair<std::string, scheduler::Outcome>> ChainOutcomes(
    const std::string& first, const scheduler::Outcome& whole, const v1::InvokeResponse& response) {
  std::vector<std::pair<std::string, scheduler::Outcome>> parts;
  if (response.stages_size() < 2) {
    parts.emplace_back(first, whole);
    return parts;
  }
  // Later stages: their executor times only (no transfer: the data stayed),
  // reported without a server/network breakdown so that no link term learns
  // from them. The first stage keeps the round trip and the transfers.
  double later_ms = 0.0;
  for (int i = 1; i < response.stages_size(); ++i) {
    const v1::StageTiming& t = response.stages(i);
    scheduler::Outcome part = whole;
    part.load_ms = t.load_us() / 1000.0;
    part.queue_ms = t.queue_us() / 1000.0;
    part.exec_ms = t.exec_us() / 1000.0;
    part.server_ms = 0.0;
    part.latency_ms = part.load_ms + part.queue_ms + part.exec_ms;
    part.request_bytes = response.stages(i - 1).output_bytes();
    part.response_bytes = t.output_bytes();
    later_ms += part.latency_ms;
    parts.emplace_back(t.function(), part);
  }
  scheduler::Outcome head = whole;
  head.latency_ms = std::max(0.0, whole.latency_ms - later_ms);
  head.exec_ms = response.stages(0).exec_us() / 1000.0;
  head.queue_ms = response.stages(0).queue_us() / 1000.0;
  head.server_ms = head.queue_ms + head.exec_ms + whole.load_ms;
  head.response_bytes = Bytes(response);
  parts.insert(parts.begin(), {first, head});
  return parts;
}

absl::Status ChainError(std::span<const ChainCandidate> stages, const absl::Status& status) {
  std::string message(status.message());
  for (size_t i = 1; i < stages.size(); ++i) {
    const std::string label = absl::StrCat(stages[i].label, ": ");
    if (const size_t at = message.find(label); at != std::string::npos) {
      message.erase(at, label.size());
      return absl::Status(status.code(), absl::StrCat(label, message));
    }
  }
  return absl::Status(status.code(), absl::StrCat(stages[0].label, ": ", message));
}

}  // namespace stoa::gateway
