// The `wasm` FunctionRuntime: WebAssembly command modules (WASI preview 1)
// run on wabt's interpreter (libwabt, Debian's wabt 1.0.32), with the host
// functions of wasi_host.h. ABI (DESIGN.md § Wasm function ABI): the request
// body (InvocationInput::raw) is stdin, stdout is the response
// (InvocationOutput::raw); exit status 0 (return from _start or
// proc_exit(0)) is success.
//
// Load validates the module once and keeps it decoded; errors
// (INVALID_ARGUMENT):
//  - "artifact is not a WebAssembly module: …" (empty, no "\0asm" magic);
//  - "invalid WebAssembly module: <wabt's reason>" (truncated, ill-typed…);
//  - "import 'env.open' is not allowed: …" for an import from anything but
//    wasi_snapshot_preview1, a non-function import, or a WASI import with
//    the wrong signature;
//  - "module exports no _start function …" (not a WASI command);
//  - "module needs N MiB of linear memory at start; limits.memory_mb is M".
// Load returns the spec with runtime "wasm" and content_type defaulted to
// "application/octet-stream"; inputs/outputs stay empty (raw bytes).
//
// Invoke runs a fresh instance (own Store, memory, globals) every time:
//  - INTERNAL "function exited with status N: <stderr>" on a non-zero exit;
//  - INTERNAL "wasm trap: <what>" (out-of-bounds memory access, unreachable,
//    call stack exhausted, integer divide by zero, …), with stderr appended
//    and a note when linear memory is within 10 % of its cap;
//  - DEADLINE_EXCEEDED when the earlier of InvocationInput::deadline_us
//    (common::RealClock) and start + limits.timeout_ms passes: the
//    interpreter runs in slices of instructions and checks the clock between
//    slices, so a module that loops forever is stopped within one slice
//    (tens of microseconds) of its deadline.
// Linear memory is capped at limits.memory_mb (default_memory_mb when 0):
// memory.grow beyond it fails (returns -1), as the Wasm spec allows.
//
// Thread safety: Load and Invoke may run concurrently; a loaded function
// holds only the immutable decoded module. Loaded functions do not refer to
// the runtime, so they may outlive it.
#pragma once

#include <cstdint>
#include <string_view>

#include "functions/function_runtime.h"

namespace stoa::functions {

struct WasmRuntimeOptions {
  uint32_t default_memory_mb = 64;      // when limits.memory_mb is 0
  uint32_t default_timeout_ms = 10000;  // when limits.timeout_ms is 0
  // Interpreter instructions between two deadline checks.
  int instructions_per_slice = 20000;
};

class WasmRuntime final : public FunctionRuntime {
 public:
  WasmRuntime() = default;
  explicit WasmRuntime(WasmRuntimeOptions options) : options_(options) {}

  std::string_view name() const override { return "wasm"; }
  absl::StatusOr<LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                         std::string_view artifact) override;

 private:
  const WasmRuntimeOptions options_;
};

}  // namespace stoa::functions
