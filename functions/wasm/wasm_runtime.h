// The `wasm` FunctionRuntime: WebAssembly command modules (WASI preview 1),
// with the host functions of wasi_host.h, on one of two engines:
//  - aot (aot_compiler.h, aot_engine.h): at Load the module is translated by
//    wasm2c and compiled by the system C compiler into a shared object,
//    cached on disk by the artifact's sha256, and run natively with Stoa's
//    own wasm-rt (guard-page bounds checks, per-thread deadline timer);
//  - interp (interp_engine.h): wabt's interpreter, 300-600x slower, needs
//    no toolchain.
// WasmRuntimeOptions::engine = kAuto (the default) uses aot and falls back
// to interp, with a log line, when wasm2c or the compiler is missing or
// fails; kAot makes that an error (UNAVAILABLE); kInterp never compiles.
// Tiered compilation (kAuto with options.tiered, the default; aot_tier.h):
// Load does not wait for the compiler. Compiled code already in the cache
// serves at once; otherwise the interpreter serves the function from the
// moment Load returns while wasm2c + cc run on a background thread, and the
// compiled code is swapped in when ready (logged: "tier interp -> aot";
// EngineOf turns to kAot; stats().tier_swaps counts it). Calls in flight
// finish on the code they started on. A failed background compile (also a
// sandbox limit) leaves the interpreter serving, logged as a warning and
// kept in CompileError(fn); this process does not try that module again.
// kAot, and kAuto with tiered = false, compile inside Load.
// Under ThreadSanitizer (which defers asynchronous signals, so the AOT
// deadline could not fire) kAuto is the interpreter and kAot is UNAVAILABLE.
//
// ABI (DESIGN.md § Wasm function ABI): the request body
// (InvocationInput::raw) is stdin, stdout is the response
// (InvocationOutput::raw); exit status 0 (return from _start or
// proc_exit(0)) is success.
//
// Load validates the module (both engines) and keeps it decoded; errors
// (INVALID_ARGUMENT):
//  - "artifact is not a WebAssembly module: …" (empty, no "\0asm" magic);
//  - "invalid WebAssembly module: <wabt's reason>" (truncated, ill-typed…);
//  - "import 'env.open' is not allowed: …" for an import from anything but
//    wasi_snapshot_preview1, a non-function import, or a WASI import with
//    the wrong signature;
//  - "module exports no _start function …" (not a WASI command);
//  - "module needs N MiB of linear memory at start; limits.memory_mb is M";
//  - "table I declares N entries at start; the limit is M entries per table"
//    (WasmRuntimeOptions::max_table_entries);
//  - a module over WasmRuntimeOptions::limits (size, functions, locals,
//    body size), checked first, in O(1) memory (module_limits.h);
//  - a module whose AOT compile ran into a sandbox limit (time, memory, CPU,
//    file size; compile_sandbox.h), with kAot or untiered kAuto: "wasm AOT
//    compile of 'f' exceeded its time limit of 60 s (wasm compile time
//    limit)".
// Load returns the spec with runtime "wasm" and content_type defaulted to
// "application/octet-stream"; inputs/outputs stay empty (raw bytes).
//
// Invoke runs a fresh instance (own memory, globals, tables; the AOT
// engine's linear memory is a pooled reservation reset to zero) every time, on
// either engine, with the same results:
//  - INTERNAL "function exited with status N: <stderr>" on a non-zero exit;
//  - INTERNAL "wasm trap: <what>" (out of bounds memory access, unreachable
//    executed, call stack exhausted, integer divide by zero, …), with stderr
//    appended and a note when linear memory is within 10 % of its cap;
//  - DEADLINE_EXCEEDED when the smaller of InvocationInput::budget_us and
//    limits.timeout_ms has passed since Invoke started, on
//    WasmRuntimeOptions::clock (interp: checked between slices of
//    instructions; aot: a per-thread timer signal, see aot_engine.h).
// Linear memory is capped at limits.memory_mb (default_memory_mb when 0;
// at most 4 GiB, where a 32-bit memory ends): memory.grow beyond it fails
// (returns -1), as the Wasm spec allows, so a guest malloc returns NULL at
// once; a non-zero exit or a trap near the cap says so in its message.
//
// Thread safety: Load and Invoke may run concurrently. A loaded function
// holds the immutable decoded module (and the opened shared object) and
// shares the runtime's pool of linear-memory reservations by shared_ptr, so
// it may outlive the runtime.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/wasm_limits.h"
#include "functions/function_runtime.h"

namespace stoa::functions {

namespace wasm {
class AotSlot;
class LinearMemoryPool;
struct AotTierShared;
struct AotToolchain;
struct ModuleInfo;
}  // namespace wasm

enum class WasmEngine { kAuto, kAot, kInterp };

struct WasmRuntimeOptions {
  uint32_t default_memory_mb = 64;      // when limits.memory_mb is 0
  uint32_t default_timeout_ms = 10000;  // when limits.timeout_ms is 0
  // Entries one table may declare or grow to; a module declaring more is
  // refused at Load (INVALID_ARGUMENT naming the limit).
  uint32_t max_table_entries = 100'000;
  // Module shape limits, checked before the module is decoded
  // (module_limits.h), and the AOT compile sandbox's (compile_sandbox.h).
  common::WasmLimits limits;
  std::string compile_user = "nobody";  // as root: who runs the compiler ("": root)
  // Interpreter instructions between two deadline checks.
  int instructions_per_slice = 20000;
  WasmEngine engine = WasmEngine::kAuto;
  // AOT: the shared-object cache ("" = $XDG_CACHE_HOME/stoa/wasm, else
  // /tmp/stoa-wasm-cache-<uid>), the tools (PATH lookup unless they contain
  // a '/'), the optimization flag, and how many idle linear-memory
  // reservations (8 GiB of address space each, no RAM) are kept for reuse.
  std::string aot_cache_dir;
  std::string aot_translator = "wasm2c";
  std::string aot_compiler = "cc";
  std::string aot_opt_level = "-O2";
  std::string aot_extra_flags;  // more cc flags, space-separated
  // kAuto: serve from the interpreter at once and compile in the background.
  bool tiered = true;
  size_t aot_idle_memories = 16;
  // What invocation budgets and limits.timeout_ms are measured on (never
  // null); it must outlive the runtime and every function it loaded. The
  // AOT engine's stop is a real timer armed for the time left on it.
  const common::Clock* clock = &common::RealClock::Get();
};

// The Wasm options RuntimeOptions asks for (engine, cache dir); defined
// with DefaultRuntimes.
WasmRuntimeOptions WasmOptionsFrom(const RuntimeOptions& options);

// Load counters (monotonic), for tests, benchmarks and logs.
struct WasmLoadStats {
  uint64_t aot_compiled = 0;         // Loads that ran wasm2c + cc
  uint64_t aot_cache_hits = 0;       // Loads that reused a cached object
  uint64_t interp_fallbacks = 0;     // kAuto Loads that fell back to interp
  uint64_t interp_loads = 0;         // Loads on the interpreter (fallbacks included)
  uint64_t background_compiles = 0;  // tiered compiles started after Load returned
  uint64_t tier_swaps = 0;           // functions moved from the interpreter to AOT code
  double last_compile_ms = 0;        // the last compile's translate + compile time
  uint64_t memories_reserved = 0;    // linear-memory reservations created (mmap)
};

class WasmRuntime final : public FunctionRuntime {
 public:
  WasmRuntime() : WasmRuntime(WasmRuntimeOptions{}) {}
  explicit WasmRuntime(WasmRuntimeOptions options);
  ~WasmRuntime() override;

  std::string_view name() const override { return "wasm"; }
  absl::StatusOr<LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                         std::string_view artifact) override;

  WasmLoadStats stats() const;

  // The engine serving a function this runtime loaded now (kAot or
  // kInterp; a tiered function turns from kInterp to kAot); nullopt for
  // any other function.
  static std::optional<WasmEngine> EngineOf(const LoadedFunction& function);
  // Waits until a tiered function's background compile has finished
  // (either way); true at once when none is pending, false on timeout.
  static bool AwaitCompiled(const LoadedFunction& function, absl::Duration timeout);
  // Why the background compile failed ("" if it did not, or is pending).
  static std::string CompileError(const LoadedFunction& function);

 private:
  wasm::AotToolchain Toolchain() const;
  absl::Status StartTiered(std::string_view artifact, const wasm::ModuleInfo& info,
                           const std::string& name, wasm::AotSlot& slot,
                           std::shared_ptr<wasm::AotSlot> owned);
  absl::Status CompileNow(std::string_view artifact, const wasm::ModuleInfo& info,
                          const std::string& name, wasm::AotSlot& slot);

  const WasmRuntimeOptions options_;
  const std::shared_ptr<wasm::LinearMemoryPool> pool_;
  const std::shared_ptr<wasm::AotTierShared> shared_;  // with background compiles
};

}  // namespace stoa::functions
