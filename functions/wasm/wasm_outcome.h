// How one Wasm invocation ended, independent of the engine that ran it, and
// the InvocationOutput or Status it becomes (the messages are part of the
// ABI, docs/wasm.md): both engines report the same errors for the same
// module.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "functions/function_runtime.h"
#include "functions/wasm/wasi_host.h"

namespace stoa::functions::wasm {

inline constexpr uint64_t kPageBytes = 64 * 1024;
inline constexpr uint64_t kPagesPerMiB = (1 << 20) / kPageBytes;

// The limits one invocation runs under.
struct CallLimits {
  std::string_view function;             // the spec's name, for messages
  const common::Clock* clock = nullptr;  // what start_us and deadline_us are on
  int64_t start_us = 0;
  int64_t deadline_us = 0;  // absolute
  uint64_t cap_pages = 0;   // linear memory cap
};

// start = clock.NowMicros(); deadline = start + the smaller of timeout_ms
// and the request's budget_us (when non-zero).
CallLimits MakeCallLimits(std::string_view function, uint32_t timeout_ms, int64_t budget_us,
                          uint64_t cap_pages, const common::Clock& clock);

struct CallEnd {
  enum class Kind { kReturned, kExited, kTrapped, kDeadline, kCancelled, kUncaughtException };
  Kind kind = Kind::kReturned;
  std::string trap;           // kTrapped: "out of bounds memory access", …
  uint64_t memory_pages = 0;  // linear memory at the end (0: none)
};

// kReturned / kExited(0) → stdout; kExited(N) → INTERNAL "function exited
// with status N; stderr: …"; kTrapped → INTERNAL "wasm trap: <trap>" (+ a
// note when memory is within 10 % of the cap, + stderr); kDeadline →
// DEADLINE_EXCEEDED "wasm function 'f' did not finish by its deadline (N ms)
// and was stopped"; kCancelled (InvocationInput::cancel fired) → CANCELLED
// "wasm function 'f' was cancelled by its caller after N ms and was
// stopped".
absl::StatusOr<InvocationOutput> FinishCall(const CallEnd& end, const CallLimits& limits,
                                            WasiContext& context);

}  // namespace stoa::functions::wasm
