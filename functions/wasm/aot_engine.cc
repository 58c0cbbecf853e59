#include "functions/wasm/aot_engine.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <wasm-rt.h>  // the ABI of the generated code: wasm_rt_memory_t, trap codes

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/clock.h"
#include "functions/wasm/aot_compiler.h"

namespace stoa::functions::wasm {

class AotModule {
 public:
  ~AotModule() {
    if (handle != nullptr) dlclose(handle);
  }
  void* handle = nullptr;
  size_t instance_size = 0;
  void (*instantiate)(void* instance, void* wasi) = nullptr;
  void (*start)(void* instance) = nullptr;
  wasm_rt_memory_t* (*memory)(void* instance) = nullptr;
  void (*free)(void* instance) = nullptr;
  std::vector<WasiFn> imports;  // by import index
};

namespace {

constexpr size_t kStackBytes = 4 << 20;
constexpr size_t kGuardBytes = 256 << 10;
constexpr size_t kAltStackBytes = 64 << 10;
constexpr size_t kHostStackReserve = 64 << 10;
constexpr uint64_t kMaxTableBytes = 32 << 20;  // per table: ~1.4 M funcrefs

// Trap codes beyond wasm_rt_trap_t.
constexpr int kTrapTimeout = 100;
constexpr int kTrapExit = 101;
constexpr int kTrapNoMemory = 102;

int DeadlineSignal() { return SIGRTMIN + 6; }

// The host table the glue calls (aot_compiler.cc declares the same struct in
// C; kAotAbiVersion changes with it).
struct HostTable {  // standard layout, as the C side sees it
  uint32_t abi_version;
  void (*trap)(uint32_t code);
  uint32_t (*register_func_type)(uint32_t params, uint32_t results, const uint32_t* types);
  void (*allocate_memory)(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages);
  uint32_t (*grow_memory)(wasm_rt_memory_t* memory, uint32_t delta);
  void (*free_memory)(wasm_rt_memory_t* memory);
  void* (*alloc_zeroed)(uint64_t bytes);
  void* (*realloc_bytes)(void* p, uint64_t bytes);
  void (*free_bytes)(void* p);
  uint64_t (*wasi)(void* context, uint32_t import_index, const uint64_t* args);
};
static_assert(std::is_standard_layout_v<HostTable>);

// One invocation in progress on a thread.
struct AotCall {
  const AotModule* module = nullptr;
  void* instance = nullptr;
  WasiContext* context = nullptr;
  LinearMemoryPool* pool = nullptr;
  uint64_t cap_pages = 0;
  LinearMemoryPool::Reservation reservation;
  int trap_code = 0;  // 0: returned normally
};

// Per-thread machinery; reached from signal handlers through a plain
// thread_local pointer (no lazy-initialization wrapper).
struct ThreadState {
  sigjmp_buf* jmp = nullptr;  // non-null while an invocation can unwind
  volatile sig_atomic_t in_wasm = 0;
  volatile sig_atomic_t deadline_hit = 0;
  uint8_t* mem_base = nullptr;  // the running instance's reservation
  uint8_t* mapping = nullptr;   // guard + stack
  uint8_t* guard_hi = nullptr;  // = lowest usable stack byte
  void* altstack = nullptr;     // ours, or null when the thread had one
  timer_t timer{};
  ucontext_t caller{};
  ucontext_t callee{};
  AotCall* call = nullptr;
};

constinit thread_local ThreadState* t_state = nullptr;

void DestroyThreadState(ThreadState* t) {
  timer_delete(t->timer);
  if (t->altstack != nullptr) {
    stack_t disable{};
    disable.ss_flags = SS_DISABLE;
    sigaltstack(&disable, nullptr);
    munmap(t->altstack, kAltStackBytes);
  }
  munmap(t->mapping, kGuardBytes + kStackBytes);
  delete t;
}

struct ThreadStateOwner {
  ~ThreadStateOwner() {
    if (t_state != nullptr) DestroyThreadState(std::exchange(t_state, nullptr));
  }
};
thread_local ThreadStateOwner t_owner;

absl::StatusOr<ThreadState*> CurrentThreadState() {
  if (t_state != nullptr) return t_state;
  auto t = std::make_unique<ThreadState>();
  void* mapping = mmap(nullptr, kGuardBytes + kStackBytes, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) return absl::InternalError("wasm aot: cannot map a stack");
  t->mapping = static_cast<uint8_t*>(mapping);
  t->guard_hi = t->mapping + kGuardBytes;
  if (mprotect(t->guard_hi, kStackBytes, PROT_READ | PROT_WRITE) != 0) {
    munmap(mapping, kGuardBytes + kStackBytes);
    return absl::InternalError("wasm aot: cannot map a stack");
  }
  stack_t current{};
  sigaltstack(nullptr, &current);
  if ((current.ss_flags & SS_DISABLE) != 0) {
    void* alt =
        mmap(nullptr, kAltStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack_t ss{};
    ss.ss_sp = alt;
    ss.ss_size = kAltStackBytes;
    if (alt == MAP_FAILED || sigaltstack(&ss, nullptr) != 0) {
      if (alt != MAP_FAILED) munmap(alt, kAltStackBytes);
      munmap(mapping, kGuardBytes + kStackBytes);
      return absl::InternalError("wasm aot: cannot set a signal stack");
    }
    t->altstack = alt;
  }
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = DeadlineSignal();
  sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (timer_create(CLOCK_MONOTONIC, &sev, &t->timer) != 0) {
    if (t->altstack != nullptr) {
      stack_t disable{};
      disable.ss_flags = SS_DISABLE;
      sigaltstack(&disable, nullptr);
      munmap(t->altstack, kAltStackBytes);
    }
    munmap(mapping, kGuardBytes + kStackBytes);
    return absl::InternalError(
        absl::StrCat("wasm aot: timer_create failed: ", std::strerror(errno)));
  }
  (void)t_owner;  // registers the thread-exit cleanup
  t_state = t.release();
  return t_state;
}

[[noreturn]] void Trap(int code) {
  ThreadState* t = t_state;
  t->in_wasm = 0;
  siglongjmp(*t->jmp, code != 0 ? code : WASM_RT_TRAP_UNREACHABLE);
}

// Host code (WASI, allocator) runs with in_wasm cleared so the deadline
// signal never unwinds it; the deadline is honoured on the way back.
sig_atomic_t EnterHost(ThreadState* t) {
  const sig_atomic_t was = t->in_wasm;
  t->in_wasm = 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return was;
}

void LeaveHost(ThreadState* t, sig_atomic_t was) {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->in_wasm = was;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (was != 0 && t->deadline_hit != 0) Trap(kTrapTimeout);
}

struct sigaction g_previous[2];  // SIGSEGV, SIGBUS

void OnFault(int sig, siginfo_t* info, void* ucontext) {
  ThreadState* t = t_state;
  if (t != nullptr && t->jmp != nullptr && t->in_wasm != 0) {
    const auto* addr = static_cast<const uint8_t*>(info->si_addr);
    if (addr >= t->mapping && addr < t->guard_hi) Trap(WASM_RT_TRAP_EXHAUSTION);
    if (t->mem_base != nullptr && addr >= t->mem_base &&
        addr < t->mem_base + LinearMemoryPool::kReserveBytes) {
      Trap(WASM_RT_TRAP_OOB);
    }
  }
  // Not ours: whoever handled it before, or the default action (the fault
  // repeats when the handler returns).
  const struct sigaction& previous = g_previous[sig == SIGBUS ? 1 : 0];
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, ucontext);
  } else if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
    signal(sig, SIG_DFL);
  } else {
    previous.sa_handler(sig);
  }
}

// The timer is armed before the jump scope exists: until then (and in host
// code) the expiry is only recorded, and honoured on entry to Wasm.
void OnDeadline(int, siginfo_t*, void*) {
  ThreadState* t = t_state;
  if (t == nullptr || t->call == nullptr) return;
  if (t->jmp != nullptr && t->in_wasm != 0) Trap(kTrapTimeout);
  t->deadline_hit = 1;
}

void InstallHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction fault {};
    fault.sa_sigaction = &OnFault;
    fault.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&fault.sa_mask);
    sigaddset(&fault.sa_mask, DeadlineSignal());
    sigaction(SIGSEGV, &fault, &g_previous[0]);
    sigaction(SIGBUS, &fault, &g_previous[1]);
    struct sigaction deadline {};
    deadline.sa_sigaction = &OnDeadline;
    deadline.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&deadline.sa_mask);
    sigaction(DeadlineSignal(), &deadline, nullptr);
  });
}

// ---- the host table ----

void HostTrap(uint32_t code) { Trap(static_cast<int>(code)); }

uint32_t HostRegisterFuncType(uint32_t params, uint32_t results, const uint32_t* types) {
  static auto* mu = new std::mutex;
  static auto* registry = new std::map<std::vector<uint32_t>, uint32_t>;
  std::vector<uint32_t> key = {params, results};
  key.insert(key.end(), types, types + params + results);
  std::lock_guard<std::mutex> lock(*mu);
  return registry->emplace(std::move(key), static_cast<uint32_t>(registry->size())).first->second;
}

void HostAllocateMemory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  ThreadState* t = t_state;
  const sig_atomic_t was = EnterHost(t);
  AotCall* call = t->call;
  if (call->reservation.base != nullptr) Trap(kTrapNoMemory);  // one memory per instance
  LinearMemoryPool::Reservation r = call->pool->Acquire(uint64_t{initial} * kPageBytes);
  if (r.base == nullptr) Trap(kTrapNoMemory);
  call->reservation = r;
  t->mem_base = r.base;
  m->data = r.base;
  m->pages = initial;
  m->max_pages = static_cast<uint32_t>(
      std::max<uint64_t>(initial, std::min<uint64_t>({max, call->cap_pages, 65535})));
  m->size = static_cast<uint32_t>(uint64_t{initial} * kPageBytes);
  LeaveHost(t, was);
}

uint32_t HostGrowMemory(wasm_rt_memory_t* m, uint32_t delta) {
  ThreadState* t = t_state;
  const sig_atomic_t was = EnterHost(t);
  uint32_t old = UINT32_MAX;
  const uint64_t pages = uint64_t{m->pages} + delta;
  if (pages <= m->max_pages) {
    if (delta == 0) {
      old = m->pages;
    } else if (mprotect(m->data + m->size, uint64_t{delta} * kPageBytes, PROT_READ | PROT_WRITE) ==
               0) {
      old = m->pages;
      m->pages = static_cast<uint32_t>(pages);
      m->size = static_cast<uint32_t>(pages * kPageBytes);
      t->call->reservation.rw_bytes = m->size;
    }
  }
  LeaveHost(t, was);
  return old;
}

void HostFreeMemory(wasm_rt_memory_t* m) {
  ThreadState* t = t_state;
  const sig_atomic_t was = EnterHost(t);
  if (m->data != nullptr && t->call->reservation.base == m->data) {
    t->call->pool->Release(std::exchange(t->call->reservation, {}));
    t->mem_base = nullptr;
  }
  m->data = nullptr;
  m->size = 0;
  m->pages = 0;
  LeaveHost(t, was);
}

void* HostAllocZeroed(uint64_t bytes) {
  ThreadState* t = t_state;
  const sig_atomic_t was = EnterHost(t);
  if (bytes > kMaxTableBytes) Trap(kTrapNoMemory);
  void* p = bytes == 0 ? nullptr : std::calloc(1, bytes);
  if (bytes != 0 && p == nullptr) Trap(kTrapNoMemory);
  LeaveHost(t, was);
  return p;
}

void* HostRealloc(void* p, uint64_t bytes) {
  ThreadState* t = t_state;
  const sig_atomic_t was = EnterHost(t);
  void* q = bytes > kMaxTableBytes ? nullptr : std::realloc(p, bytes);
  LeaveHost(t, was);
  return q;
}

void HostFree(void* p) {
  ThreadState* t = t_state;
  const sig_atomic_t was = EnterHost(t);
  std::free(p);
  LeaveHost(t, was);
}

uint64_t HostWasi(void* context, uint32_t index, const uint64_t* args) {
  ThreadState* t = t_state;
  const char probe = 0;
  if (reinterpret_cast<const uint8_t*>(&probe) < t->guard_hi + kHostStackReserve) {
    Trap(WASM_RT_TRAP_EXHAUSTION);
  }
  const sig_atomic_t was = EnterHost(t);
  auto* call = static_cast<AotCall*>(context);
  const uint64_t r = call->module->imports[index](*call->context, args);
  if (r == kWasiExited) Trap(kTrapExit);
  LeaveHost(t, was);
  return r;
}

constexpr HostTable kHostTable = {
    kAotAbiVersion,  &HostTrap,        &HostRegisterFuncType, &HostAllocateMemory, &HostGrowMemory,
    &HostFreeMemory, &HostAllocZeroed, &HostRealloc,          &HostFree,           &HostWasi,
};

// Runs on the per-thread stack: instantiate, then _start, inside the jump
// scope every trap returns to.
void Trampoline() {
  ThreadState* const t = t_state;
  AotCall* const call = t->call;
  sigjmp_buf jmp;
  t->jmp = &jmp;
  const int code = sigsetjmp(jmp, 1);
  if (code == 0) {
    call->module->instantiate(call->instance, call);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t->in_wasm = 1;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (t->deadline_hit != 0) Trap(kTrapTimeout);
    call->module->start(call->instance);
    t->in_wasm = 0;
  } else {
    call->trap_code = code;
  }
  t->jmp = nullptr;
}

const char* TrapMessage(int code) {
  switch (code) {
    case WASM_RT_TRAP_OOB:
      return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW:
      return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO:
      return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION:
      return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE:
      return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT:
      return "indirect call to a missing function or one of another type";
    case WASM_RT_TRAP_EXHAUSTION:
      return "call stack exhausted";
    case kTrapNoMemory:
      return "out of memory (linear memory or table could not be allocated)";
    default:
      return "unknown trap";
  }
}

class AotMemoryView final : public WasiMemory {
 public:
  explicit AotMemoryView(wasm_rt_memory_t* memory) : memory_(memory) {}
  uint8_t* data() override { return memory_->data; }
  uint64_t size() override { return memory_->size; }

 private:
  wasm_rt_memory_t* const memory_;
};

template <typename T>
absl::Status Symbol(void* handle, const char* name, T* out) {
  *out = reinterpret_cast<T>(dlsym(handle, name));
  if (*out != nullptr) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("wasm aot: the compiled module has no '", name, "'"));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const AotModule>> LoadAot(const std::string& so_path,
                                                         const ModuleInfo& info) {
  InstallHandlers();
  auto module = std::make_shared<AotModule>();
  module->handle = dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (module->handle == nullptr) {
    return absl::InternalError(absl::StrCat("wasm aot: dlopen failed: ", dlerror()));
  }
  const uint32_t* abi = nullptr;
  size_t (*instance_size)() = nullptr;
  void (*bind)(const HostTable*) = nullptr;
  for (absl::Status s : {Symbol(module->handle, "stoa_abi_version", &abi),
                         Symbol(module->handle, "stoa_instance_size", &instance_size),
                         Symbol(module->handle, "stoa_bind", &bind),
                         Symbol(module->handle, "stoa_instantiate", &module->instantiate),
                         Symbol(module->handle, "stoa_start", &module->start),
                         Symbol(module->handle, "stoa_memory", &module->memory),
                         Symbol(module->handle, "stoa_free", &module->free)}) {
    if (!s.ok()) return s;
  }
  if (*abi != kAotAbiVersion) {
    return absl::InternalError(absl::StrCat("wasm aot: the compiled module has glue ABI ", *abi,
                                            ", this build needs ", kAotAbiVersion));
  }
  for (const WasmImport& import : info.imports) module->imports.push_back(BindWasi(import.name));
  module->instance_size = instance_size();
  {
    static auto* mu = new std::mutex;
    std::lock_guard<std::mutex> lock(*mu);
    bind(&kHostTable);  // idempotent per loaded copy of the object
  }
  return std::shared_ptr<const AotModule>(std::move(module));
}

absl::StatusOr<InvocationOutput> RunAot(const AotModule& module, LinearMemoryPool& pool,
                                        const InvocationInput& input, const CallLimits& limits) {
  absl::StatusOr<ThreadState*> state = CurrentThreadState();
  if (!state.ok()) return state.status();
  ThreadState* const t = *state;
  STOA_CHECK(t->call == nullptr, "a Wasm invocation re-entered the AOT engine on one thread");

  WasiContext context;
  context.stdin_data = input.raw;
  context.args = {limits.function.empty() ? std::string("function") : std::string(limits.function)};
  const size_t words =
      (module.instance_size + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
  std::unique_ptr<std::max_align_t[]> instance(new std::max_align_t[std::max<size_t>(words, 1)]());
  wasm_rt_memory_t* memory = module.memory(instance.get());
  AotMemoryView view(memory);
  if (memory != nullptr) context.memory = &view;

  CallEnd end;
  const int64_t remaining_us = limits.deadline_us - common::RealClock::Get().NowMicros();
  if (remaining_us <= 0) {
    end.kind = CallEnd::Kind::kDeadline;
    return FinishCall(end, limits, context);
  }
  AotCall call;
  call.module = &module;
  call.instance = instance.get();
  call.context = &context;
  call.pool = &pool;
  call.cap_pages = limits.cap_pages;
  t->call = &call;
  t->deadline_hit = 0;
  t->in_wasm = 0;

  itimerspec arm{};
  arm.it_value.tv_sec = remaining_us / 1000000;
  arm.it_value.tv_nsec = (remaining_us % 1000000) * 1000;
  timer_settime(t->timer, 0, &arm, nullptr);
  getcontext(&t->callee);
  t->callee.uc_stack.ss_sp = t->guard_hi;
  t->callee.uc_stack.ss_size = kStackBytes;
  t->callee.uc_link = &t->caller;
  makecontext(&t->callee, &Trampoline, 0);
  swapcontext(&t->caller, &t->callee);
  const itimerspec disarm{};
  timer_settime(t->timer, 0, &disarm, nullptr);

  end.memory_pages = memory != nullptr ? memory->pages : 0;
  module.free(instance.get());  // returns the memory to the pool
  t->call = nullptr;
  t->mem_base = nullptr;
  switch (call.trap_code) {
    case 0:
      end.kind = CallEnd::Kind::kReturned;
      break;
    case kTrapExit:
      end.kind = CallEnd::Kind::kExited;
      break;
    case kTrapTimeout:
      end.kind = CallEnd::Kind::kDeadline;
      break;
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION:
      end.kind = CallEnd::Kind::kUncaughtException;
      break;
    default:
      end.kind = CallEnd::Kind::kTrapped;
      end.trap = TrapMessage(call.trap_code);
      break;
  }
  if (call.trap_code == WASM_RT_TRAP_EXHAUSTION) madvise(t->guard_hi, kStackBytes, MADV_DONTNEED);
  return FinishCall(end, limits, context);
}

}  // namespace stoa::functions::wasm
