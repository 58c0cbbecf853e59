// The per-thread sandbox the AOT engine (aot_engine.h) runs generated code
// in, and the signal handling that turns faults and the deadline into traps:
//  - a 4 MiB stack with a 256 KiB PROT_NONE guard below it, so unbounded
//    recursion faults in the guard; entered with a register-only switch on
//    x86-64 (no system call; makecontext/swapcontext elsewhere, which save
//    and restore the signal mask with three system calls per call);
//  - a sigaltstack for the handlers (unless the thread already has one);
//  - a POSIX timer (CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIGRTMIN+6) for the
//    invocation's deadline, armed lazily: a call leaves it armed, and the
//    next one re-arms it only when it would fire after its own deadline
//    (an expiry meant for an earlier call re-arms it from the handler), so
//    back-to-back calls make no timer system call;
//  - process-wide SIGSEGV/SIGBUS/SIGFPE/SIGILL and deadline handlers. A
//    fault inside generated code whose address is in the thread's stack
//    guard ("call stack exhausted") or linear-memory reservation ("out of
//    bounds"), any other fault while generated code runs ("fault in
//    compiled code": a table, a global, a wasm2c or compiler bug; the
//    invocation fails, the process does not), and the deadline while in
//    generated code siglongjmp to the running call's jump buffer. In host
//    code (in_wasm cleared) the deadline is only recorded and honoured on
//    the way back into Wasm; a fault in host code or on a thread outside
//    a call goes to the previous handler (by default the process dies: that
//    is a bug of ours, not of the module).
//
// Internal to the AOT engine. Thread safety: every SandboxThread belongs to
// one thread, reached through a plain thread_local pointer from signal
// handlers; it is created on the thread's first call and freed when the
// thread exits. The handlers are installed once and never removed.
#pragma once

#include <setjmp.h>
#include <signal.h>
#include <time.h>
#include <ucontext.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace stoa::functions::wasm {

// Trap codes beyond wasm_rt_trap_t.
inline constexpr int kTrapTimeout = 100;
inline constexpr int kTrapExit = 101;
inline constexpr int kTrapNoMemory = 102;
inline constexpr int kTrapFault = 103;  // any other fault in generated code

struct AotCall;  // the invocation in progress (aot_engine.cc); opaque here

struct SandboxThread {
  sigjmp_buf* jmp = nullptr;  // non-null while an invocation can unwind
  volatile sig_atomic_t in_wasm = 0;
  volatile sig_atomic_t deadline_hit = 0;
  uint8_t* mem_base = nullptr;  // the running instance's reservation
  uint8_t* mapping = nullptr;   // guard + stack
  uint8_t* guard_hi = nullptr;  // = lowest usable stack byte
  void* altstack = nullptr;     // ours, or null when the thread had one
  timer_t timer{};
  bool has_timer = false;
  // When the timer fires (CLOCK_MONOTONIC ns), 0 when it is not armed;
  // written by this thread and its deadline handler only.
  volatile int64_t armed_ns = 0;
  int64_t deadline_ns = 0;  // the running call's
  // StopNow was called for the running call (from any thread).
  std::atomic<int> stop_requested{0};
  // A trap unwound out of a signal handler (the signal stays blocked until
  // the mask is restored).
  volatile sig_atomic_t trapped_in_handler = 0;
  sigset_t mask{};  // the thread's signal mask when its sandbox was made
#if defined(__x86_64__)
  void* caller_sp = nullptr;  // saved by the switch into the sandbox stack
#else
  ucontext_t caller{};
  ucontext_t callee{};
#endif
  // Set by the engine for as long as an invocation holds this thread
  // (instance creation to instance free); the deadline handler ignores a
  // thread without one.
  AotCall* call = nullptr;
  // Set by the engine: called by the SIGSEGV handler (SEGV_ACCERR, in
  // generated or host code) with the fault address; true when it made the
  // page accessible (a lazily committed linear-memory page) and the access
  // is to be retried. Must be async-signal-safe.
  bool (*commit_fault)(SandboxThread* t, const uint8_t* addr) = nullptr;
  void (*body)(AotCall*) = nullptr;  // what RunInSandbox runs
  int trap_code = 0;                 // RunInSandbox's outcome
};

// Installs the process-wide handlers (once).
void InstallSandboxHandlers();

// The calling thread's sandbox, created on first use; INTERNAL when its
// stack, signal stack or timer cannot be had.
absl::StatusOr<SandboxThread*> CurrentSandbox();
// The calling thread's sandbox; host functions (called from generated code
// inside RunInSandbox) always have one.
SandboxThread* ThisSandbox();

// Runs body(t->call) on t's stack inside a jump scope, with the deadline
// timer armed for budget_us (> 0). Returns 0 when body returned, else the
// trap code it was unwound with. body runs as host code (in_wasm clear)
// until it calls EnterWasm.
int RunInSandbox(SandboxThread* t, void (*body)(AotCall*), int64_t budget_us);

// Stops the call running on t as its deadline would (the caller's cancel):
// callable from any thread while that call holds t. Clear
// t->stop_requested before the call can be stopped.
void StopNow(SandboxThread* t);

// body is about to run generated code: traps with kTrapTimeout when the
// deadline already passed.
void EnterWasm(SandboxThread* t);

// Unwinds the running call with `code` (0 means unreachable).
[[noreturn]] void Trap(int code);

// Host code (WASI, allocator) runs between these, so the deadline signal
// never unwinds it; LeaveHost traps when the deadline passed meanwhile.
sig_atomic_t EnterHost(SandboxThread* t);
void LeaveHost(SandboxThread* t, sig_atomic_t was);

// Whether host code would run with less than 64 KiB of stack left.
bool HostStackLow(const SandboxThread* t);

}  // namespace stoa::functions::wasm
