// The WASI preview 1 host of the `wasm` runtime: the only door between a
// module and the world. Real behaviour is offered for stdin (fd 0, the request
// body), stdout/stderr (fd 1/2, captured in memory), args, environ (empty),
// clocks, random bytes and proc_exit, plus the fd queries wasi-libc's stdio
// makes on 0/1/2 (fd_fdstat_get, fd_seek, fd_close, fd_prestat_get). Every
// other wasi_snapshot_preview1 function links but returns EBADF (fd_* and
// path_*) or ENOSYS (anything else), so ordinary wasi-libc programs load and
// nothing outside the sandbox is reachable: no files, sockets or processes.
//
// Thread safety: a WasiContext belongs to one invocation (one Store, one
// thread). CheckWasiImport is pure and may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "wabt/interp/interp.h"

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
  wabt::interp::Memory* memory = nullptr;
};

// The trap message proc_exit unwinds with (exit_code tells the status).
inline constexpr std::string_view kProcExitTrap = "stoa: proc_exit";

// OK when `import` may be linked: a function of wasi_snapshot_preview1 whose
// signature matches the WASI one (or, for a function the host does not
// implement, returns a single i32 errno). INVALID_ARGUMENT naming the import
// otherwise ("import 'env.open' is not allowed: …").
absl::Status CheckWasiImport(const wabt::interp::ImportType& import);

// The host function for an import that passed CheckWasiImport; `context`
// must outlive the store.
wabt::interp::HostFunc::Ptr MakeWasiFunction(wabt::interp::Store& store,
                                             const wabt::interp::ImportType& import,
                                             WasiContext* context);

}  // namespace stoa::functions::wasm
