// The value rules of a function spec, on the proto (v1::FunctionSpec): the
// one place that says what a valid name, runtime, tier list, SLO, batching,
// limit, description, content type and tenant are. Both ends that accept a
// spec from outside apply them: the gateway's REST layer (after its JSON type
// checks, gateway/spec_json.h) and the executor's LoadFunction
// (executors/executor_service.h), so a spec an executor accepts is one the
// REST layer would have accepted, worded the same way when refused:
//   "function name '../x' must start with [a-z0-9]; function names match …"
//   "spec field 'limits.memory_mb' must be between 0 and 1048576"
//   "spec field 'limits.timeout_ms' is 3600000 ms; the limit is 60000 ms
//    (maximum timeout_ms)"
//
// Fields a client leaves out are proto defaults and pass: an empty tier list
// (the REST layer fills in ["edge","cloud"]; an executor ignores tiers),
// batching.max_batch 0 (no batching), limits 0 (the runtime's defaults), ""
// description, content_type and tenant. The derived fields (version, sha256,
// inputs, outputs) are not checked here.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "common/request_limits.h"
#include "stoa/v1/function.pb.h"

namespace stoa::functions {

// Inclusive ranges of the integer spec fields; the REST layer uses them for
// its JSON range check too (a JSON number past uint32 must not wrap).
struct IntegerRange {
  int64_t lo;
  int64_t hi;
};
inline constexpr IntegerRange kMaxBatchRange{1, 4096};
inline constexpr IntegerRange kMaxDelayUsRange{0, 10'000'000};
inline constexpr IntegerRange kTimeoutMsRange{0, UINT32_MAX};  // then --max-timeout-ms
inline constexpr IntegerRange kMemoryMbRange{0, 1'048'576};
inline constexpr IntegerRange kMaxConcurrencyRange{0, 1'000'000};

// Longest function or tenant name (a directory name and a metric label).
inline constexpr size_t kMaxNameLength = 63;

// INVALID_ARGUMENT "spec field '<field>' must be between LO and HI".
absl::Status OutOfRange(std::string_view field, IntegerRange range);

// A function name: [a-z0-9][a-z0-9_.-]{0,62}. INVALID_ARGUMENT naming the
// rule it breaks (the name is quoted, truncated when too long).
absl::Status ValidateFunctionName(std::string_view name);

// A tenant name: the same rule as function names ("tenant names match …").
// The empty tenant (no tenant) is the caller's business: this refuses "".
absl::Status ValidateTenantName(std::string_view tenant);

// Every value rule above and in the REST API (DESIGN.md § Function spec):
// name; runtime "onnx" or "wasm"; tiers only "edge"/"cloud", each once;
// slo_ms finite and >= 0; batching and limits in their ranges, timeout_ms
// at most limits.max_timeout_ms; description at most
// limits.max_description_bytes; content_type a media type ("type/subtype",
// at most 255 bytes, no control characters); tenant, when not empty, a
// tenant name. Returns the first rule broken, in that order.
absl::Status ValidateFunctionSpec(const v1::FunctionSpec& spec,
                                  const common::RequestLimits& limits);

}  // namespace stoa::functions
