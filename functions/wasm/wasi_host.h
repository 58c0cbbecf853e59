// The WASI preview 1 host of the `wasm` runtime: the only door between a
// module and the world, shared by both engines (wabt's interpreter through
// wasi_interp.h, the wasm2c AOT engine through aot_engine.h). Real behaviour
// is offered for stdin (fd 0, the request body), stdout/stderr (fd 1/2,
// captured in memory), args, environ (empty), clocks, random bytes and
// proc_exit, plus the fd queries wasi-libc's stdio makes on 0/1/2
// (fd_fdstat_get, fd_seek, fd_close, fd_prestat_get). Every other
// wasi_snapshot_preview1 function links but returns EBADF (fd_* and path_*)
// or ENOSYS (anything else), so ordinary wasi-libc programs load and nothing
// outside the sandbox is reachable: no files, sockets or processes.
//
// The host is engine-neutral: arguments arrive as 64-bit integers (i32
// zero-extended), memory is reached through WasiMemory, and proc_exit is
// reported back (WasiCall returns kWasiExited) for the engine to unwind its
// own way. No header of wabt or wasm2c is included here.
//
// Thread safety: a WasiContext belongs to one invocation (one thread).
// CheckWasiImport and BindWasi are pure and may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace stoa::functions::wasm {

// WASI errno values used by the host.
inline constexpr uint32_t kWasiSuccess = 0;
inline constexpr uint32_t kWasiEbadf = 8;
inline constexpr uint32_t kWasiEfault = 21;
inline constexpr uint32_t kWasiEfbig = 22;
inline constexpr uint32_t kWasiEinval = 28;
inline constexpr uint32_t kWasiEnosys = 52;
inline constexpr uint32_t kWasiEspipe = 70;

inline constexpr std::string_view kWasiModule = "wasi_snapshot_preview1";

// Wasm value types, as far as imports are concerned.
enum class ValType : uint8_t { kI32, kI64, kF32, kF64, kOther };

// One import of a module, as its engine decoded it.
struct WasmImport {
  std::string module;
  std::string name;
  bool is_function = true;
  std::vector<ValType> params;
  std::vector<ValType> results;
};

// The instance's linear memory, as the engine keeps it (it may move or grow
// between two host calls, never during one).
class WasiMemory {
 public:
  virtual ~WasiMemory() = default;
  virtual uint8_t* data() = 0;
  virtual uint64_t size() = 0;
};

// The state one invocation shares with its host functions.
struct WasiContext {
  std::string_view stdin_data;  // not owned; outlives the invocation
  size_t stdin_pos = 0;
  std::string stdout_data;
  std::string stderr_data;
  size_t max_stdout_bytes = 64 << 20;  // fd_write past it fails with EFBIG
  size_t max_stderr_bytes = 64 << 10;  // the rest of stderr is dropped
  std::vector<std::string> args;       // argv; args[0] is the function name
  std::optional<uint32_t> exit_code;   // set by proc_exit
  // The instance's exported "memory"; null until instantiated (host calls
  // that touch memory then fail with EFAULT).
  WasiMemory* memory = nullptr;
};

// OK when `import` may be linked: a function of wasi_snapshot_preview1 whose
// signature matches the WASI one (or, for a function the host does not
// implement, returns a single i32 errno), or one of the `stoa_libc`
// functions (host_libc.h) with its signature. INVALID_ARGUMENT naming the
// import otherwise ("import 'env.open' is not allowed: …").
absl::Status CheckWasiImport(const WasmImport& import);

// What proc_exit returns from WasiCall: the engine must unwind the instance
// (exit_code is set). Any other value is the WASI errno to return.
inline constexpr uint64_t kWasiExited = ~uint64_t{0};

// What a host function returns when the module handed it a pointer outside
// its memory where C would have the access trap (the stoa_libc functions):
// the engine traps with "out of bounds memory access".
inline constexpr uint64_t kWasiOutOfBounds = ~uint64_t{0} - 1;

// A host function; `args` holds one value per parameter.
using WasiFn = uint64_t (*)(WasiContext& context, const uint64_t* args);

// The host function for an import that passed CheckWasiImport.
WasiFn BindWasi(const WasmImport& import);

// [addr, addr + len) of the instance's memory, or null when any of it lies
// outside (or there is no memory yet).
uint8_t* GuestSpan(WasiContext& context, uint64_t addr, uint64_t len);

}  // namespace stoa::functions::wasm
