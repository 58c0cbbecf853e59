// Invoker: what the REST layer and the function lifecycle need of the
// invocation path (implemented by the Dispatcher; a fake in tests).
//
//   Invoke     runs one invocation of `function` and answers `done` exactly
//              once: the executor's response with where and how it ran, or
//              an error Status (docs/architecture.md § Errors). `cancel`
//              (nullable; the HTTP request's, fired when its client goes
//              away or a shutdown's grace period ends) withdraws every run
//              of the request: each ends CANCELLED, counted as cancelled,
//              teaching the scheduler nothing.
//   Forget     a function was deleted or replaced: drop what is known of
//              `sha256` ("" = every version) and unload it from executors.
//   Health     what is known of a tier (/readyz, the state API).
//   Stats      per tier counts of one function version.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cancel_signal.h"
#include "gateway/function_registry.h"
#include "gateway/loaded_functions.h"
#include "scheduler/scheduler.h"
#include "stoa/v1/executor.pb.h"

namespace stoa::gateway {

struct DispatchResult {
  v1::InvokeResponse response;  // load_us set to the cold start of this call
  scheduler::Tier tier = scheduler::Tier::kEdge;
  scheduler::Reason reason = scheduler::Reason::kPolicy;
  double predicted_ms = 0.0;
  double latency_ms = 0.0;  // from Invoke() to the result, all attempts
  bool cold_start = false;
  // Split inference (gateway/split_invoker.h): the cut tensor's name when
  // the prefix ran at the edge and the suffix elsewhere; "" otherwise.
  std::string split;
  // More response headers (a pipeline's X-Stoa-Stage-Timings).
  std::vector<std::pair<std::string, std::string>> headers;
};
using DispatchCallback = std::function<void(absl::StatusOr<DispatchResult>)>;

// What the gateway knows of one tier.
struct TierHealth {
  bool configured = false;
  std::string executor;  // Executor::Describe(), "" when absent
  uint32_t in_flight = 0;
  uint32_t reported_depth = 0;
  uint32_t workers = 0;  // threads the executor last reported; 0: not known
  // Admission control (gateway/admission.h): invocations admitted there,
  // those of them (or reported) waiting for a worker, the queue limit, and
  // whether the tier is saturated (/readyz answers 503 when all are).
  uint32_t admitted = 0;
  uint32_t queued = 0;
  uint32_t queue_limit = 0;
  bool saturated = false;
  // The last status probe: never probed, answered or failed.
  enum class Probe { kNone, kOk, kFailed } last_probe = Probe::kNone;
  double last_probe_rtt_ms = 0.0;
  // The share of the durable queue's waiting async events that may run
  // here (each counts 1/|its targets|; gateway/events/queued_work.h): part
  // of the scheduler's queue term, shown in GET /v1/scheduler/state.
  double queued_async = 0.0;
};

class Invoker {
 public:
  virtual ~Invoker() = default;
  Invoker(const Invoker&) = delete;
  Invoker& operator=(const Invoker&) = delete;

  virtual void Invoke(const StoredFunction& function, v1::InvokeRequest request,
                      std::optional<scheduler::Tier> forced, DispatchCallback done,
                      common::CancelSignalPtr cancel = nullptr) = 0;
  virtual void Forget(const std::string& function, const std::string& sha256) = 0;
  virtual scheduler::TierSet configured_tiers() const = 0;
  virtual TierHealth Health(scheduler::Tier tier) const = 0;
  virtual FunctionStats Stats(const std::string& function, const std::string& sha256) const = 0;

 protected:
  Invoker() = default;
};

}  // namespace stoa::gateway
