#include "functions/wasm/aot_engine.h"

#include <dlfcn.h>
#include <wasm-rt.h>  // the ABI of the generated code: wasm_rt_memory_t, trap codes

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "functions/wasm/aot_host_abi.h"
#include "functions/wasm/aot_sandbox.h"

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

// One invocation in progress on a thread (SandboxThread::call).
struct AotCall {
  const AotModule* module = nullptr;
  void* instance = nullptr;
  WasiContext* context = nullptr;
  LinearMemoryPool* pool = nullptr;
  uint64_t cap_pages = 0;
  LinearMemoryPool::Reservation reservation;
  wasm_rt_memory_t* memory = nullptr;            // module.memory(instance)
  const common::CancelSignal* cancel = nullptr;  // the caller's, nullable
};

namespace {

constexpr uint64_t kMaxTableBytes = 32 << 20;  // per table: ~1.4 M funcrefs
// Instance structs up to this many words live on RunAot's stack.
constexpr size_t kStackInstanceWords = 64;

// ---- the host table (aot_host_abi.h) ----

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
  SandboxThread* t = ThisSandbox();
  const sig_atomic_t was = EnterHost(t);
  AotCall* call = t->call;
  if (call->reservation.base != nullptr) Trap(kTrapNoMemory);  // one memory per instance
  LinearMemoryPool::Reservation r =
      call->pool->Acquire(uint64_t{initial} * kPageBytes, LinearMemoryPool::Mode::kLazy);
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
  SandboxThread* t = ThisSandbox();
  const sig_atomic_t was = EnterHost(t);
  uint32_t old = UINT32_MAX;
  const uint64_t pages = uint64_t{m->pages} + delta;
  if (pages <= m->max_pages) {
    if (delta == 0) {
      old = m->pages;
    } else if (LinearMemoryPool::Grow(t->call->reservation, pages * kPageBytes)) {
      old = m->pages;
      m->pages = static_cast<uint32_t>(pages);
      m->size = static_cast<uint32_t>(pages * kPageBytes);
    }
  }
  LeaveHost(t, was);
  return old;
}

void HostFreeMemory(wasm_rt_memory_t* m) {
  SandboxThread* t = ThisSandbox();
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
  SandboxThread* t = ThisSandbox();
  const sig_atomic_t was = EnterHost(t);
  if (bytes > kMaxTableBytes) Trap(kTrapNoMemory);
  void* p = bytes == 0 ? nullptr : std::calloc(1, bytes);
  if (bytes != 0 && p == nullptr) Trap(kTrapNoMemory);
  LeaveHost(t, was);
  return p;
}

void* HostRealloc(void* p, uint64_t bytes) {
  SandboxThread* t = ThisSandbox();
  const sig_atomic_t was = EnterHost(t);
  void* q = bytes > kMaxTableBytes ? nullptr : std::realloc(p, bytes);
  LeaveHost(t, was);
  return q;
}

void HostFree(void* p) {
  SandboxThread* t = ThisSandbox();
  const sig_atomic_t was = EnterHost(t);
  std::free(p);
  LeaveHost(t, was);
}

uint64_t HostWasi(void* context, uint32_t index, const uint64_t* args) {
  SandboxThread* t = ThisSandbox();
  if (HostStackLow(t)) Trap(WASM_RT_TRAP_EXHAUSTION);
  const sig_atomic_t was = EnterHost(t);
  auto* call = static_cast<AotCall*>(context);
  const uint64_t r = call->module->imports[index](*call->context, args);
  if (r == kWasiExited) Trap(kTrapExit);
  if (r == kWasiOutOfBounds) Trap(WASM_RT_TRAP_OOB);
  LeaveHost(t, was);
  return r;
}

constexpr AotHostTable kHostTable = {
    .abi_version = kAotAbiVersion,
    .trap = &HostTrap,
    .register_func_type = &HostRegisterFuncType,
    .allocate_memory = &HostAllocateMemory,
    .grow_memory = &HostGrowMemory,
    .free_memory = &HostFreeMemory,
    .alloc_zeroed = &HostAllocZeroed,
    .realloc_bytes = &HostRealloc,
    .free_bytes = &HostFree,
    .wasi = &HostWasi,
};

// A fault in the running instance's lazy memory, inside its current size
// (from the SIGSEGV handler, in generated or host code): the page becomes
// read-write and the access is retried. Before the memory is allocated and
// after it is freed the reservation is not lazy.
bool CommitFault(SandboxThread* t, const uint8_t* addr) {
  AotCall* call = t->call;
  if (call == nullptr || call->memory == nullptr || !call->reservation.lazy) return false;
  const uint8_t* base = call->reservation.base;
  if (addr < base || addr >= base + call->memory->size) return false;
  return LinearMemoryPool::Commit(call->reservation, static_cast<uint64_t>(addr - base),
                                  call->memory->size);
}

// ---- running an instance ----

// Runs in the sandbox: instantiate (host code: data segments, tables), then
// _start.
void InstantiateAndStart(AotCall* call) {
  call->module->instantiate(call->instance, call);
  // A cancel that fired before the timer was armed; one after re-arms it.
  if (call->cancel != nullptr && call->cancel->cancelled()) Trap(kTrapTimeout);
  EnterWasm(ThisSandbox());
  call->module->start(call->instance);
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
    case kTrapFault:
      return "fault in compiled code (a bad access or instruction outside the sandbox's checks)";
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

CallEnd::Kind EndKind(int trap_code) {
  switch (trap_code) {
    case 0:
      return CallEnd::Kind::kReturned;
    case kTrapExit:
      return CallEnd::Kind::kExited;
    case kTrapTimeout:
      return CallEnd::Kind::kDeadline;
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION:
      return CallEnd::Kind::kUncaughtException;
    default:
      return CallEnd::Kind::kTrapped;
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const AotModule>> LoadAot(const std::string& so_path,
                                                         const ModuleInfo& info) {
  InstallSandboxHandlers();
  auto module = std::make_shared<AotModule>();
  module->handle = dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (module->handle == nullptr) {
    return absl::InternalError(absl::StrCat("wasm aot: dlopen failed: ", dlerror()));
  }
  const uint32_t* abi = nullptr;
  size_t (*instance_size)() = nullptr;
  void (*bind)(const AotHostTable*) = nullptr;
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
  for (const WasmImport& import : info.imports) module->imports.push_back(BindWasi(import));
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
  absl::StatusOr<SandboxThread*> sandbox = CurrentSandbox();
  if (!sandbox.ok()) return sandbox.status();
  SandboxThread* const t = *sandbox;
  STOA_CHECK(t->call == nullptr, "a Wasm invocation re-entered the AOT engine on one thread");

  WasiContext context;
  context.stdin_data = input.raw;
  if (input.max_output_bytes != 0) {
    context.max_stdout_bytes = input.max_output_bytes + 1;
  }
  context.args = {limits.function.empty() ? std::string("function") : std::string(limits.function)};
  // The instance struct (wasm2c's: globals, the memory and table headers)
  // zeroed, on this stack when small (it is tens of bytes for a C module).
  const size_t words =
      (module.instance_size + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
  std::max_align_t small_instance[kStackInstanceWords];
  std::unique_ptr<std::max_align_t[]> big_instance;
  std::max_align_t* instance = small_instance;
  if (words > kStackInstanceWords) {
    big_instance.reset(new std::max_align_t[words]);
    instance = big_instance.get();
  }
  std::memset(instance, 0, std::max<size_t>(words, 1) * sizeof(std::max_align_t));
  wasm_rt_memory_t* memory = module.memory(instance);
  AotMemoryView view(memory);
  if (memory != nullptr) context.memory = &view;

  CallEnd end;
  // The call started at limits.start_us, read just before (MakeCallLimits):
  // no second clock read (about 130 cycles on these VMs).
  const int64_t remaining_us = limits.deadline_us - limits.start_us;
  if (remaining_us <= 0) {
    end.kind = CallEnd::Kind::kDeadline;
    return FinishCall(end, limits, context);
  }
  AotCall call{.module = &module,
               .instance = instance,
               .context = &context,
               .pool = &pool,
               .cap_pages = limits.cap_pages,
               .reservation = {},
               .memory = memory,
               .cancel = input.cancel};
  t->call = &call;
  t->commit_fault = &CommitFault;
  // The caller's cancel stops the instance the way its deadline does: the
  // hook (on the canceller's thread) fires this thread's timer now. It is
  // removed before the call leaves the thread, so it never reaches the next.
  t->stop_requested.store(0);
  const uint64_t hook = input.cancel == nullptr ? 0 : input.cancel->AddHook([t] { StopNow(t); });
  const int trap_code = RunInSandbox(t, &InstantiateAndStart, remaining_us);
  if (input.cancel != nullptr) input.cancel->RemoveHook(hook);
  end.memory_pages = memory != nullptr ? memory->pages : 0;
  module.free(instance);  // returns the memory to the pool
  t->call = nullptr;
  t->mem_base = nullptr;
  end.kind = EndKind(trap_code);
  if (end.kind == CallEnd::Kind::kDeadline && input.cancel != nullptr &&
      input.cancel->cancelled()) {
    end.kind = CallEnd::Kind::kCancelled;
  }
  if (end.kind == CallEnd::Kind::kTrapped) end.trap = TrapMessage(trap_code);
  return FinishCall(end, limits, context);
}

}  // namespace stoa::functions::wasm
