#include "functions/wasm/wasm_outcome.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace stoa::functions::wasm {
namespace {

std::string WithStderr(std::string message, const std::string& err) {
  const absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(err);
  if (!trimmed.empty()) absl::StrAppend(&message, "; stderr: ", trimmed);
  return message;
}

// memory.grow past the cap returns -1 without a trap (malloc returns
// NULL); a program whose allocation failed usually aborts or exits non-zero,
// so say how close to the cap it was.
void AppendMemoryNote(const CallEnd& end, const CallLimits& limits, std::string& message) {
  if (end.memory_pages == 0 || end.memory_pages * 10 < limits.cap_pages * 9) return;
  absl::StrAppend(&message, " (linear memory is near its limit: ",
                  absl::StrFormat("%.1f", end.memory_pages / double(kPagesPerMiB)), " of ",
                  limits.cap_pages / kPagesPerMiB, " MiB; memory.grow beyond it fails)");
}

}  // namespace

CallLimits MakeCallLimits(std::string_view function, uint32_t timeout_ms, int64_t budget_us,
                          uint64_t cap_pages, const common::Clock& clock) {
  int64_t allowed_us = static_cast<int64_t>(timeout_ms) * 1000;
  if (budget_us > 0) allowed_us = std::min(allowed_us, budget_us);
  CallLimits limits;
  limits.function = function;
  limits.clock = &clock;
  limits.start_us = clock.NowMicros();
  limits.deadline_us = limits.start_us + allowed_us;
  limits.cap_pages = cap_pages;
  return limits;
}

absl::StatusOr<InvocationOutput> FinishCall(const CallEnd& end, const CallLimits& limits,
                                            WasiContext& context) {
  switch (end.kind) {
    case CallEnd::Kind::kDeadline:
      return absl::DeadlineExceededError(absl::StrCat(
          "wasm function '", std::string(limits.function), "' did not finish by its deadline (",
          (limits.deadline_us - limits.start_us) / 1000, " ms) and was stopped"));
    case CallEnd::Kind::kCancelled:
      return absl::CancelledError(absl::StrCat(
          "wasm function '", std::string(limits.function), "' was cancelled by its caller after ",
          (limits.clock->NowMicros() - limits.start_us) / 1000, " ms and was stopped"));
    case CallEnd::Kind::kUncaughtException:
      return absl::InternalError(WithStderr("wasm trap: uncaught exception", context.stderr_data));
    case CallEnd::Kind::kTrapped: {
      std::string message = absl::StrCat("wasm trap: ", end.trap);
      AppendMemoryNote(end, limits, message);
      return absl::InternalError(WithStderr(std::move(message), context.stderr_data));
    }
    case CallEnd::Kind::kExited:
      if (context.exit_code.value_or(0) != 0) {
        std::string message = absl::StrCat("function exited with status ", *context.exit_code);
        AppendMemoryNote(end, limits, message);
        return absl::InternalError(WithStderr(std::move(message), context.stderr_data));
      }
      break;
    case CallEnd::Kind::kReturned:
      break;
  }
  InvocationOutput out;
  out.raw = std::move(context.stdout_data);
  return out;
}

}  // namespace stoa::functions::wasm
