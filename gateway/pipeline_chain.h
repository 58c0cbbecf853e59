// Chains: consecutive pipeline stages placed on one remote target run in
// one executor call (InvokeRequest.chain, executors/chain_runner.h), so the
// data between them stays on the executor (docs/pipelines.md § Chains).
//
//   PlanChain      before stage k runs, how many stages from k go to one
//                  remote target in one call (1: no chain; the dispatcher
//                  places stage k alone as before). The rule:
//                    - stage k's target: the forced tier (?tier=) or its pin,
//                      else the target with the lowest predicted latency
//                      (Scheduler::PredictMs with the input's size);
//                      no chain when a prediction is missing (0) or the
//                      target is not one gRPC executor (the in-process
//                      edge is in memory already; a pool loads per member);
//                    - stage j+1 joins while it is forced or pinned there,
//                      or unpinned, allowed there, not split, and its
//                      prediction there without transfer (PredictMs with 0
//                      bytes minus the link's round trip) is no more than its
//                      best prediction elsewhere with stage j's predicted
//                      output (OutputSizes) as the request.
//   ChainMembersOf the chained stages of a call as the Invocation loads them.
//   ChainOutcomes  a chained call's outcome as one scheduler::Outcome per
//                  stage (a plain call: itself), so each stage's own terms
//                  learn from its own times (StageTiming).
//   ChainError     an error of a chained call named by its stage.
//
// Thread safety: OutputSizes is thread-safe; the rest are pure functions.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gateway/function_store.h"
#include "gateway/invocation.h"
#include "gateway/invoker.h"
#include "scheduler/scheduler.h"

namespace stoa::gateway {

// Learned output size per stage function (EWMA of what it answered),
// falling back to the declared one (static output shapes; -1 counts as 1),
// then to the input's size.
class OutputSizes {
 public:
  void Observe(const std::string& function, uint64_t bytes);
  uint64_t Predict(const v1::FunctionSpec& spec, uint64_t input_bytes) const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, double> learned_ ABSL_GUARDED_BY(mu_);
};

struct ChainCandidate {
  StoredFunction function;                // the stage's current version
  std::optional<scheduler::Tier> forced;  // ?tier= or the stage's pin
  std::string label;                      // "stage 2 (digits)"
};

struct ChainPlan {
  std::optional<scheduler::Tier> target;  // set with `stages`
  std::vector<ChainCandidate> stages;     // the chain (2 or more); empty: none
};

// The stage after the last one given; nullopt at the end of the pipeline
// (or at a stage that cannot be looked up: it is answered in its turn).
// Called only while the chain may grow, so a pipeline whose first stage
// is not chained costs no lookups of the others.
using NextStage = std::function<std::optional<ChainCandidate>()>;

ChainPlan PlanChain(scheduler::Scheduler& scheduler, const Invoker& tiers, ChainCandidate first,
                    const NextStage& next, uint64_t input_bytes, const OutputSizes& sizes);

// The StoredFunction to dispatch for a chain: stages[0]'s, carrying the
// others (StoredFunction::chain) and, when every stage has one, the sum of
// their limits.timeout_ms as its deadline. Sets request.chain.
StoredFunction ChainCall(std::span<const ChainCandidate> stages, v1::InvokeRequest& request);

std::vector<ChainMember> ChainMembersOf(const StoredFunction& function);

std::vector<std::pair<std::string, scheduler::Outcome>> ChainOutcomes(
    const std::string& first, const scheduler::Outcome& whole, const v1::InvokeResponse& response);

// The error of a chained call: a chained stage's label found in the
// message is moved to the front ("stage 3 (x): tier cloud (…): boom");
// otherwise the first stage's label is put there.
absl::Status ChainError(std::span<const ChainCandidate> stages, const absl::Status& status);

}  // namespace stoa::gateway
