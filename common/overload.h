// How an overload refusal travels (admission control, docs/limits.md §
// Admission control): the status carries a Retry-After hint as an
// absl::Status payload, which the REST layer turns into the `Retry-After`
// header; and the executor's own refusals are recognisable by the gateway
// (one marker per limit, in the message, since gRPC carries only code and
// message).
//
//   gateway, function over limits.max_concurrency  RESOURCE_EXHAUSTED (429)
//   gateway, no allowed tier can take it            UNAVAILABLE (503)
//   executor, its queue is full or too slow         RESOURCE_EXHAUSTED, the
//       message ending in "(executor queue limit)" or "(executor queue
//       wait)"; the gateway answers it as a saturated tier: another allowed
//       tier is tried (not counted as a tier failure), else 503.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace stoa::common {

// The markers an executor's refusal ends with.
inline constexpr char kExecutorQueueLimit[] = "(executor queue limit)";
inline constexpr char kExecutorQueueWait[] = "(executor queue wait)";

// `status` with a Retry-After hint of `seconds` (at least 1).
absl::Status WithRetryAfter(absl::Status status, int64_t seconds);
// The hint set by WithRetryAfter; nullopt when there is none.
std::optional<int64_t> RetryAfterSeconds(const absl::Status& status);
// Whole seconds to wait for `ms`, rounded up, at least 1.
int64_t RetryAfterFromMs(double ms);

// Whether `status` is an executor refusing an invocation because its queue
// is full or too slow for the deadline (the markers above).
bool IsExecutorSaturated(const absl::Status& status);

}  // namespace stoa::common
