// The interpreter engine of the `wasm` runtime, on wabt 1.0.32's interpreter
// (libwabt), and the module decoder both engines share.
//
// DecodeModule reads and validates a module once (wabt's ReadBinaryInterp)
// and applies the runtime's load-time rules; errors are INVALID_ARGUMENT:
//  - "artifact is not a WebAssembly module: …" (empty, no "\0asm" magic);
//  - "invalid WebAssembly module: <wabt's reason>" (truncated, ill-typed…);
//  - "import 'env.open' is not allowed: …" (wasi_host.h CheckWasiImport);
//  - "module exports no _start function …", "module has a start section …";
//  - "module needs N MiB of linear memory at start; limits.memory_mb is M";
//  - "table I declares N entries at start; the limit is M entries per table".
// Every memory's maximum is capped at `cap_pages`, every table's at
// `max_table_entries` (table.grow past it returns -1, like memory.grow).
//
// RunInterp runs a fresh instance (own Store, memory, globals) on the
// calling thread: the interpreter runs in slices of instructions and checks
// the clock between slices, so a module that loops forever is stopped within
// one slice (tens of microseconds) of its deadline.
//
// wabt's interp headers are not valid C++20, so interp_engine.cc is C++17;
// no wabt type appears here.
//
// Thread safety: an InterpModule is immutable; RunInterp may be called
// concurrently on one module.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/function_runtime.h"
#include "functions/wasm/wasi_host.h"
#include "functions/wasm/wasm_outcome.h"

namespace stoa::functions::wasm {

// What the AOT engine needs to know about a decoded module.
struct ModuleInfo {
  std::vector<WasmImport> imports;  // in import order (all passed CheckWasiImport)
  bool exports_memory = false;      // an export "memory" of kind memory
  uint32_t max_table_entries = 0;   // DecodeModule's cap, compiled into the glue
};

class InterpModule;  // a decoded, validated wabt ModuleDesc

absl::StatusOr<std::shared_ptr<const InterpModule>> DecodeModule(std::string_view artifact,
                                                                 uint32_t memory_mb,
                                                                 uint64_t cap_pages,
                                                                 uint32_t max_table_entries,
                                                                 ModuleInfo* info);

absl::StatusOr<InvocationOutput> RunInterp(const InterpModule& module, const InvocationInput& input,
                                           const CallLimits& limits, int instructions_per_slice);

}  // namespace stoa::functions::wasm
