// The AOT compile sandbox: runs one tool of the Wasm AOT compile (wasm2c,
// the C compiler) as a child process under the operator's limits
// (common::WasmLimits, docs/limits.md "Wasm compile sandbox"):
//  - its own process group, killed as a whole (SIGKILL) at `deadline`, the
//    wall-clock limit of the whole compile, and when the tool exits (so no
//    grandchild of cc outlives it);
//  - RLIMIT_AS (memory), RLIMIT_CPU (CPU seconds), RLIMIT_FSIZE (file
//    size), RLIMIT_CORE 0, and, once it runs as another user, RLIMIT_NPROC;
//    every process the tool starts (cc1, as, ld) inherits them;
//  - when this process is root and a user is named, as that user (setgroups,
//    setgid, setuid before exec; see SandboxUser);
//  - stdin /dev/null, stdout and stderr into `log`, cwd and TMPDIR `work_dir`;
//  - a watchdog process that outlives this one: should this process die
//    during the run (SIGKILL, a crash), it kills the tool's group, which
//    would otherwise run on under init, and removes `orphan_cleanup_dir`.
//
// RunSandboxed returns OK when the tool exits 0; RESOURCE_EXHAUSTED naming
// the limit when one was hit, e.g. "wasm AOT compile of 'f' exceeded its
// time limit of 10 s (wasm compile time limit)" (also "memory limit of N
// MiB (wasm compile memory limit)", "CPU time limit of N s (wasm compile
// CPU limit)", "file size limit of N MiB (wasm compile file size limit)");
// UNAVAILABLE when the tool is missing or fails otherwise (with the head
// of its log).
//
// Thread safety: RunSandboxed may be called concurrently; the child is set
// up with async-signal-safe calls only (everything is prepared before fork).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/wasm_limits.h"

namespace stoa::functions::wasm {

// The user the tools run as: set when this process is root and
// `user` names a user that exists; nullopt otherwise (the
// tools then run as this process's user; the reason is logged once).
struct SandboxUser {
  uid_t uid = 0;
  gid_t gid = 0;
};
std::optional<SandboxUser> ResolveSandboxUser(const std::string& user);

struct SandboxRun {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH unless it has a '/'
  std::string work_dir;           // cwd and TMPDIR; writable by `user`
  std::string log;                // stdout + stderr
  std::optional<SandboxUser> user;
  std::chrono::steady_clock::time_point deadline;
  std::string what;  // "wasm AOT compile of 'f'", for messages
  // When it turns true (polled like the deadline), the group is killed and
  // RunSandboxed returns CANCELLED. Nullable.
  const std::atomic<bool>* cancel = nullptr;
  // Removed (rm -rf) by the watchdog when this process dies during the
  // run; nothing is removed when empty or when the run ends normally.
  std::string orphan_cleanup_dir;
};

absl::Status RunSandboxed(const SandboxRun& run, const common::WasmLimits& limits);

}  // namespace stoa::functions::wasm
