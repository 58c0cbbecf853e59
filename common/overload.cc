#include "common/overload.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace stoa::common {
namespace {

constexpr char kRetryAfterUrl[] = "type.stoa.dev/retry-after";
constexpr int64_t kMaxRetryAfterSeconds = 3600;

}  // namespace

absl::Status WithRetryAfter(absl::Status status, int64_t seconds) {
  seconds = std::clamp<int64_t>(seconds, 1, kMaxRetryAfterSeconds);
  status.SetPayload(kRetryAfterUrl, absl::Cord(std::to_string(seconds)));
  return status;
}

std::optional<int64_t> RetryAfterSeconds(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryAfterUrl);
  int64_t seconds = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &seconds)) return std::nullopt;
  return seconds;
}

int64_t RetryAfterFromMs(double ms) {
  if (!(ms > 0)) return 1;  // also NaN
  return std::clamp<int64_t>(static_cast<int64_t>(std::ceil(ms / 1000.0)), 1,
                             kMaxRetryAfterSeconds);
}

bool IsExecutorSaturated(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return false;
  const absl::string_view message = status.message();
  return absl::EndsWith(message, kExecutorQueueLimit) ||
         absl::EndsWith(message, kExecutorQueueWait);
}

}  // namespace stoa::common
