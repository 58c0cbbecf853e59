// The ahead-of-time engine of the `wasm` runtime: a module translated by
// wasm2c and compiled into a shared object (aot_compiler.h), run with
// Stoa's own implementation of the wasm-rt runtime the generated C calls
// (wasm_rt_allocate_memory, wasm_rt_grow_memory, tables, wasm_rt_trap, …).
//
// How an invocation runs (RunAot):
//  - Instance: the module's instance struct is fresh for every call; its
//    linear memory is an 8 GiB + 64 KiB PROT_NONE reservation (taken from a
//    LinearMemoryPool, reset with madvise(MADV_DONTNEED) so it starts zeroed) of
//    which only the current pages are read-write. The generated code is
//    compiled with WASM_RT_MEMCHECK_SIGNAL_HANDLER (no bounds checks): any
//    32-bit address + 32-bit offset lands inside the reservation, so an
//    access past the memory faults. memory.grow past limits.memory_mb (or
//    the module's maximum) returns -1. Tables are heap arrays of at most
//    32 MiB each (a larger one traps "out of memory").
//  - Stack, traps and the deadline: generated code runs in the calling
//    thread's sandbox (aot_sandbox.h): its own 4 MiB stack over a guard,
//    wasm_rt_trap and faults in the reservation or the guard unwinding to
//    the call with a trap, and a per-thread POSIX timer (signal
//    SIGRTMIN+6) armed for the time the invocation has left on
//    limits.clock (from limits.start_us). The timer stops generated code
//    only: in a host (WASI) function or this runtime's allocator the
//    expiry is recorded and honoured on the way back into Wasm, so a
//    module that loops forever stops at its deadline (plus signal
//    delivery, well under a millisecond), never in the middle of a malloc
//    or a lock. Host calls also refuse to start with less than 64 KiB of
//    stack left (call stack exhausted), so host code never overflows.
//  - Host ABI: the functions the glue calls are one table
//    (aot_host_abi.h), shared with the compiler.
//
// Thread safety: an AotModule is immutable after LoadAot; RunAot may run
// concurrently on any threads (each thread has its own stack, timer,
// sigaltstack and jump buffer, created on its first call and freed when it
// exits). The process-wide signal handlers are installed on the first
// LoadAot and never removed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/function_runtime.h"
#include "functions/wasm/interp_engine.h"
#include "functions/wasm/linear_memory_pool.h"
#include "functions/wasm/wasm_outcome.h"

namespace stoa::functions::wasm {

class AotModule;  // a dlopen'ed, bound module

// Opens the shared object made by CompileAot for a module with `info`.
// INTERNAL when it cannot be opened or does not have Stoa's glue ABI.
absl::StatusOr<std::shared_ptr<const AotModule>> LoadAot(const std::string& so_path,
                                                         const ModuleInfo& info);

// Runs a fresh instance of `module` on the calling thread. The call is taken
// to start at limits.start_us (MakeCallLimits just before): it gets
// deadline_us - start_us to run.
absl::StatusOr<InvocationOutput> RunAot(const AotModule& module, LinearMemoryPool& pool,
                                        const InvocationInput& input, const CallLimits& limits);

}  // namespace stoa::functions::wasm
