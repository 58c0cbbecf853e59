// The Scheduler decides, per invocation, which tier runs it, and learns from
// every outcome (DESIGN.md § Scheduler). The gateway calls Decide before
// dispatching and Observe when the result (or failure) is known.
//
// Thread safety: Decide and Observe are called concurrently from every
// gateway thread; they are lock-free or sharded (never one global lock) and
// take microseconds. SetPolicy may be called at any time; the next Decide
// uses the new policy.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "scheduler/policy_config.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

// What is known about an invocation before it runs.
struct Features {
  uint64_t request_bytes = 0;
  uint32_t batch = 1;
  // Tiers whose executor already has this function version loaded (as far
  // as the gateway knows); on the others a cold start is to be expected.
  TierSet warm;
  // Per tier (TierIndex): the gateway's own calls in flight there, and the
  // queue depth that tier's executor last reported.
  std::array<uint32_t, kNumTiers> in_flight{};
  std::array<uint32_t, kNumTiers> queue_depth{};
};

// Why a tier was chosen; rendered in X-Stoa-Reason and metric labels.
enum class Reason : uint8_t {
  kPredictedBest,  // the policy's model picked it
  kPolicy,         // a fixed rule (edge_only, cloud_only, round_robin)
  kForced,         // ?tier= on the request
  kFailover,       // the chosen tier failed or its circuit is open
  kExplore,        // probing a tier not used lately
  kHedge,          // too close to call: run on `tier` and `hedge`, first wins
};
inline constexpr int kNumReasons = 6;
// "predicted-best", "policy", "forced", "failover", "explore", "hedge".
std::string_view ReasonName(Reason r);

struct Decision {
  Decision() = default;
  Decision(Tier t, Reason r, double predicted = 0.0)
      : tier(t), reason(r), predicted_ms(predicted) {}

  Tier tier = Tier::kEdge;
  Reason reason = Reason::kPolicy;
  // The model's predicted end-to-end latency on `tier`, in ms (0 if unknown).
  double predicted_ms = 0.0;
  // Reason kHedge: the second tier to run the same request on.
  TierSet hedge;
  // Shadow measurement (policy shadow_rate): also run on these tiers, only
  // to learn and to measure placement accuracy; their answers are dropped.
  TierSet shadow;
};

// What happened, as the gateway saw it.
struct Outcome {
  Tier tier = Tier::kEdge;
  bool ok = true;
  // Did the failure say the tier itself is unhealthy (unreachable, timed
  // out), as opposed to a bad request that would fail anywhere?
  bool tier_failure = false;
  double latency_ms = 0.0;  // end to end, measured by the gateway
  double server_ms = 0.0;   // queue + load + exec as reported by the executor
  double load_ms = 0.0;     // cold start part, 0 when the function was warm
  double queue_ms = 0.0;    // executor-reported queue wait
  double exec_ms = 0.0;     // executor-reported execution time (0: unknown)
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  uint32_t batch = 1;
  // Requests ahead of this one when it was sent: the tier's reported queue
  // depth + the gateway's in-flight calls there (Features at decision time).
  uint32_t ahead = 0;
  // A shadow or losing hedge run: it teaches the model but is no decision.
  bool shadow = false;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Chooses a tier among `allowed` (never empty) for `function`.
  // Returns UNAVAILABLE when every allowed tier's circuit is open.
  virtual absl::StatusOr<Decision> Decide(std::string_view function, TierSet allowed,
                                          const Features& features) = 0;
  // The model's predicted end-to-end latency (ms, per the function's
  // objective) of `function` on `tier`, for a tier the caller chose itself
  // (?tier= on the request). 0 while the tier has no observation. Not a
  // decision: nothing is counted.
  virtual double PredictMs(std::string_view function, Tier tier, const Features& features) = 0;
  // Feeds an outcome back. `decision` is what Decide returned (or the
  // failover/forced decision the gateway actually used).
  virtual void Observe(std::string_view function, const Decision& decision,
                       const Outcome& outcome) = 0;
  // Shadow measurement: the same request ran on several tiers;
  // `latency_ms[TierIndex(t)]` is what tier t took (NaN: not run or failed).
  // Counts whether `chosen` was the fastest (placement accuracy) and by how
  // much it was not (regret).
  virtual void ObserveComparison(std::string_view function, Tier chosen,
                                 const std::array<double, kNumTiers>& latency_ms) = 0;
  // A background probe of a tier's executor (the gateway's periodic
  // GetStatus): `ok` false when it failed (counts towards the tier's
  // circuit); otherwise `rtt_ms` is its round trip, a request with no
  // payload, which tracks the link while no function is sent there.
  virtual void ObserveLink(Tier tier, bool ok, double rtt_ms) = 0;
  // Forgets what was learned about a function (deleted or new version);
  // its policy override, if any, stays.
  virtual void Forget(std::string_view function) = 0;

  virtual void SetPolicy(const PolicyConfig& policy) = 0;
  virtual PolicyConfig GetPolicy() const = 0;
  // Per-function override of the global policy; the next Decide for that
  // function uses it. Clear returns to the global policy.
  virtual void SetFunctionPolicy(std::string_view function, const PolicyConfig& policy) = 0;
  virtual void ClearFunctionPolicy(std::string_view function) = 0;
  virtual std::optional<PolicyConfig> GetFunctionPolicy(std::string_view function) const = 0;

  // The scheduler's view as JSON for GET /v1/scheduler/state:
  // {"policy":…, "functions":{name:{"edge":{…},"cloud":{…}}}, "tiers":{…}}.
  virtual std::string StateJson() const = 0;

 protected:
  Scheduler() = default;
};
using SchedulerPtr = std::unique_ptr<Scheduler>;

}  // namespace stoa::scheduler
