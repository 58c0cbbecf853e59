#include "functions/wasm/aot_sandbox.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <wasm-rt.h>  // trap codes

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "functions/wasm/linear_memory_pool.h"

namespace stoa::functions::wasm {
namespace {

constexpr size_t kStackBytes = 4 << 20;
constexpr size_t kGuardBytes = 256 << 10;
constexpr size_t kAltStackBytes = 64 << 10;
constexpr size_t kHostStackReserve = 64 << 10;

int DeadlineSignal() { return SIGRTMIN + 6; }

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define STOA_WASM_REGISTER_SWITCH 1
// StoaWasmSwitch(save, to): pushes the callee-saved registers, MXCSR and
// the x87 control word (the System V ABI's callee-saved state) on the
// current stack, stores the stack pointer in *save, then loads `to` and
// pops the same from it. No signal mask is touched, so no system call.
extern "C" void StoaWasmSwitch(void** save, void* to);
asm(R"(
  .text
  .p2align 4
  .type StoaWasmSwitch,@function
StoaWasmSwitch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size StoaWasmSwitch, .-StoaWasmSwitch
)");
#endif

int64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

// Arms t's timer to fire at `at_ns` (CLOCK_MONOTONIC). Async-signal-safe.
void Arm(SandboxThread* t, int64_t at_ns) {
  itimerspec at{};
  at.it_value.tv_sec = at_ns / 1000000000;
  at.it_value.tv_nsec = at_ns % 1000000000;
  t->armed_ns = at_ns;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  timer_settime(t->timer, TIMER_ABSTIME, &at, nullptr);
}

// Reached from signal handlers through a plain thread_local pointer (no
// lazy-initialization wrapper).
constinit thread_local SandboxThread* t_state = nullptr;

void DisableAltStack(void* altstack) {
  stack_t disable{};
  disable.ss_flags = SS_DISABLE;
  sigaltstack(&disable, nullptr);
  munmap(altstack, kAltStackBytes);
}

// Owns t's mappings (also a half-built t's: unset ones are null).
void DestroySandboxThread(SandboxThread* t) {
  if (t->has_timer) timer_delete(t->timer);
  if (t->altstack != nullptr) DisableAltStack(t->altstack);
  if (t->mapping != nullptr) munmap(t->mapping, kGuardBytes + kStackBytes);
  delete t;
}
using SandboxThreadPtr = std::unique_ptr<SandboxThread, decltype(&DestroySandboxThread)>;

struct SandboxThreadOwner {
  ~SandboxThreadOwner() {
    if (t_state != nullptr) DestroySandboxThread(std::exchange(t_state, nullptr));
  }
};
thread_local SandboxThreadOwner t_owner;

absl::Status MapStack(SandboxThread* t) {
  void* mapping = mmap(nullptr, kGuardBytes + kStackBytes, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) return absl::InternalError("wasm aot: cannot map a stack");
  t->mapping = static_cast<uint8_t*>(mapping);
  t->guard_hi = t->mapping + kGuardBytes;
  if (mprotect(t->guard_hi, kStackBytes, PROT_READ | PROT_WRITE) != 0) {
    return absl::InternalError("wasm aot: cannot map a stack");
  }
  return absl::OkStatus();
}

absl::Status SetAltStack(SandboxThread* t) {
  stack_t current{};
  sigaltstack(nullptr, &current);
  if ((current.ss_flags & SS_DISABLE) == 0) return absl::OkStatus();  // the thread has one
  void* alt =
      mmap(nullptr, kAltStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (alt == MAP_FAILED) return absl::InternalError("wasm aot: cannot set a signal stack");
  stack_t ss{};
  ss.ss_sp = alt;
  ss.ss_size = kAltStackBytes;
  if (sigaltstack(&ss, nullptr) != 0) {
    munmap(alt, kAltStackBytes);
    return absl::InternalError("wasm aot: cannot set a signal stack");
  }
  t->altstack = alt;
  return absl::OkStatus();
}

absl::Status CreateTimer(SandboxThread* t) {
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = DeadlineSignal();
  sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (timer_create(CLOCK_MONOTONIC, &sev, &t->timer) != 0) {
    return absl::InternalError(
        absl::StrCat("wasm aot: timer_create failed: ", std::strerror(errno)));
  }
  t->has_timer = true;
  pthread_sigmask(SIG_SETMASK, nullptr, &t->mask);
  return absl::OkStatus();
}

constexpr int kFaultSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
struct sigaction g_previous[std::size(kFaultSignals)];

size_t FaultIndex(int sig) {
  for (size_t i = 0; i < std::size(kFaultSignals); ++i) {
    if (kFaultSignals[i] == sig) return i;
  }
  return 0;
}

void OnFault(int sig, siginfo_t* info, void* ucontext) {
  SandboxThread* t = t_state;
  // A lazily committed linear-memory page touched for the first time.
  if (t != nullptr && sig == SIGSEGV && info->si_code == SEGV_ACCERR &&
      t->commit_fault != nullptr &&
      t->commit_fault(t, static_cast<const uint8_t*>(info->si_addr))) {
    return;
  }
  if (t != nullptr && t->jmp != nullptr && t->in_wasm != 0) {
    const auto* addr = static_cast<const uint8_t*>(info->si_addr);
    t->trapped_in_handler = 1;
    if (sig == SIGSEGV || sig == SIGBUS) {
      if (addr >= t->mapping && addr < t->guard_hi) Trap(WASM_RT_TRAP_EXHAUSTION);
      if (t->mem_base != nullptr && addr >= t->mem_base &&
          addr < t->mem_base + LinearMemoryPool::kReserveBytes) {
        Trap(WASM_RT_TRAP_OOB);
      }
    }
    Trap(kTrapFault);
  }
  // Not ours: whoever handled it before, or the default action (the fault
  // repeats when the handler returns).
  const struct sigaction& previous = g_previous[FaultIndex(sig)];
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, ucontext);
  } else if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
    signal(sig, SIG_DFL);
  } else {
    previous.sa_handler(sig);
  }
}

// The timer is armed before the jump scope exists: until then (and in host
// code) the expiry is only recorded, and honoured on entry to Wasm. An
// expiry armed for an earlier call (see RunInSandbox) re-arms the timer for
// the running call's deadline, or, between calls, leaves it disarmed.
void OnDeadline(int, siginfo_t*, void*) {
  SandboxThread* t = t_state;
  if (t == nullptr) return;
  t->armed_ns = 0;  // one-shot: it has fired
  if (t->call == nullptr) return;
  if (t->stop_requested.load() == 0 && MonotonicNs() < t->deadline_ns) {
    Arm(t, t->deadline_ns);
    return;
  }
  if (t->jmp != nullptr && t->in_wasm != 0) {
    t->trapped_in_handler = 1;
    Trap(kTrapTimeout);
  }
  t->deadline_hit = 1;
}

// Runs on the sandbox stack: body inside the jump scope every trap returns
// to.
void Trampoline() {
  SandboxThread* const t = t_state;
  sigjmp_buf jmp;
  t->jmp = &jmp;
  // No signal mask in the jump buffer (0): saving it would cost a syscall
  // on every call. A trap that jumps out of a signal handler leaves that
  // signal blocked here only until RunInSandbox restores the thread's mask.
  const int code = sigsetjmp(jmp, 0);
  if (code == 0) {
    t->body(t->call);
    t->in_wasm = 0;
  }
  t->trap_code = code;
  t->jmp = nullptr;
}

#if defined(STOA_WASM_REGISTER_SWITCH)
// The sandbox stack's first frame: Trampoline, then back to RunInSandbox.
[[noreturn]] void SandboxEntry() {
  Trampoline();
  void* done = nullptr;
  StoaWasmSwitch(&done, t_state->caller_sp);
  __builtin_unreachable();
}

// A fresh frame at the top of the sandbox stack that StoaWasmSwitch "returns"
// into SandboxEntry from, with the caller's MXCSR and x87 control word.
void* EntryFrame(uint8_t* top) {
  auto* sp = reinterpret_cast<uint64_t*>(top);  // 16-byte aligned
  *--sp = 0;                                    // SandboxEntry never returns
  *--sp = reinterpret_cast<uint64_t>(&SandboxEntry);
  for (int i = 0; i < 6; ++i) *--sp = 0;  // rbp rbx r12 r13 r14 r15
  uint32_t mxcsr = 0;
  uint16_t x87 = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(x87));
  *--sp = static_cast<uint64_t>(mxcsr) | (static_cast<uint64_t>(x87) << 32);
  return sp;
}
#endif

void SwitchToSandbox(SandboxThread* t) {
#if defined(STOA_WASM_REGISTER_SWITCH)
  StoaWasmSwitch(&t->caller_sp, EntryFrame(t->guard_hi + kStackBytes));
#else
  getcontext(&t->callee);
  t->callee.uc_stack.ss_sp = t->guard_hi;
  t->callee.uc_stack.ss_size = kStackBytes;
  t->callee.uc_link = &t->caller;
  makecontext(&t->callee, &Trampoline, 0);
  swapcontext(&t->caller, &t->callee);
#endif
}

}  // namespace

void InstallSandboxHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction fault {};
    fault.sa_sigaction = &OnFault;
    fault.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&fault.sa_mask);
    sigaddset(&fault.sa_mask, DeadlineSignal());
    for (size_t i = 0; i < std::size(kFaultSignals); ++i) {
      sigaction(kFaultSignals[i], &fault, &g_previous[i]);
    }
    struct sigaction deadline {};
    deadline.sa_sigaction = &OnDeadline;
    deadline.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&deadline.sa_mask);
    sigaction(DeadlineSignal(), &deadline, nullptr);
  });
}

absl::StatusOr<SandboxThread*> CurrentSandbox() {
  if (t_state != nullptr) return t_state;
  SandboxThreadPtr t(new SandboxThread, &DestroySandboxThread);
  for (absl::Status s : {MapStack(t.get()), SetAltStack(t.get()), CreateTimer(t.get())}) {
    if (!s.ok()) return s;
  }
  (void)t_owner;  // registers the thread-exit cleanup
  t_state = t.release();
  return t_state;
}

SandboxThread* ThisSandbox() { return t_state; }

int RunInSandbox(SandboxThread* t, void (*body)(AotCall*), int64_t budget_us) {
  t->body = body;
  t->trap_code = 0;
  t->deadline_hit = 0;
  t->in_wasm = 0;
  t->trapped_in_handler = 0;
  const int64_t deadline = MonotonicNs() + budget_us * 1000;
  t->deadline_ns = deadline;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  // Left armed by an earlier call for no later than this deadline: it will
  // fire in time (and re-arm for this one), so no system call.
  const int64_t armed = t->armed_ns;
  if (armed == 0 || armed > deadline) Arm(t, deadline);
  // After arming: a StopNow that came first is seen here, one that comes
  // later arms the timer after this did.
  if (t->stop_requested.load() != 0) t->deadline_hit = 1;
  SwitchToSandbox(t);
  t->body = nullptr;
  // A trap out of a signal handler left that signal blocked.
  if (t->trapped_in_handler != 0) pthread_sigmask(SIG_SETMASK, &t->mask, nullptr);
  if (t->trap_code == WASM_RT_TRAP_EXHAUSTION) madvise(t->guard_hi, kStackBytes, MADV_DONTNEED);
  return t->trap_code;
}

void StopNow(SandboxThread* t) {
  t->stop_requested.store(1);
  itimerspec now{};
  now.it_value.tv_nsec = 1;
  timer_settime(t->timer, 0, &now, nullptr);
}

void EnterWasm(SandboxThread* t) {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->in_wasm = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (t->deadline_hit != 0) Trap(kTrapTimeout);
}

[[noreturn]] void Trap(int code) {
  SandboxThread* t = t_state;
  t->in_wasm = 0;
  siglongjmp(*t->jmp, code != 0 ? code : WASM_RT_TRAP_UNREACHABLE);
}

sig_atomic_t EnterHost(SandboxThread* t) {
  const sig_atomic_t was = t->in_wasm;
  t->in_wasm = 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return was;
}

void LeaveHost(SandboxThread* t, sig_atomic_t was) {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->in_wasm = was;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (was != 0 && t->deadline_hit != 0) Trap(kTrapTimeout);
}

bool HostStackLow(const SandboxThread* t) {
  const char probe = 0;
  return reinterpret_cast<const uint8_t*>(&probe) < t->guard_hi + kHostStackReserve;
}

}  // namespace stoa::functions::wasm
