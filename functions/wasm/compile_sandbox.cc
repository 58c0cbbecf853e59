#include "functions/wasm/compile_sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace stoa::functions::wasm {
namespace {

std::string FindOnPath(const std::string& tool) {
  if (tool.find('/') != std::string::npos) return tool;
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(std::string(dir), "/", tool);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string ReadHead(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string s(max_bytes, '\0');
  in.read(s.data(), static_cast<std::streamsize>(max_bytes));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

void SetLimit(int resource, rlim_t soft, rlim_t hard) {
  const rlimit limit{soft, hard};
  setrlimit(resource, &limit);
}

// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void ExecChild(const SandboxRun& run, const common::WasmLimits& limits,
                            const char* path, char* const* argv, char* const* envp) {
  setpgid(0, 0);
  const int in = open("/dev/null", O_RDONLY);
  const int out = open(run.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(125);
  close_range(3, ~0u, 0);  // no socket or file of the server reaches the tool
  if (chdir(run.work_dir.c_str()) != 0) _exit(125);
  const rlim_t mib = 1 << 20;
  SetLimit(RLIMIT_AS, limits.compile_memory_mb * mib, limits.compile_memory_mb * mib);
  SetLimit(RLIMIT_CPU, limits.compile_cpu_s, limits.compile_cpu_s + 1);
  SetLimit(RLIMIT_FSIZE, limits.compile_file_mb * mib, limits.compile_file_mb * mib);
  SetLimit(RLIMIT_CORE, 0, 0);
  if (run.user) {
    SetLimit(RLIMIT_NPROC, 256, 256);
    const gid_t gid = run.user->gid;
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(run.user->uid) != 0) {
      constexpr char kMsg[] = "stoa: cannot drop privileges for the compile\n";
      (void)!write(2, kMsg, sizeof kMsg - 1);
      _exit(126);
    }
  }
  execve(path, argv, envp);
  _exit(127);
}

// The watchdog, a second child in a group of its own: it blocks on its end
// of `guard` (as fd 3). A byte from this process means the run is over and
// it exits; end-of-file means this process died (SIGKILL, a crash) with the
// tool still running, and the tool's group would otherwise live on under
// init, holding CPUs for up to the compile limits: it kills the group and,
// when asked, removes the work directory with rm (exec'd, so that no
// allocation happens here). Async-signal-safe calls only.
[[noreturn]] void WatchChild(int guard, pid_t group, const char* rm_path, char* const* rm_argv,
                             char* const* envp) {
  setpgid(0, 0);  // a kill sent to this process's group leaves the watchdog
  if (guard != 3 && dup2(guard, 3) < 0) _exit(125);
  const int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
  }
  close_range(4, ~0u, 0);
  char byte = 0;
  ssize_t n = 0;
  do {
    n = read(3, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) _exit(0);
  kill(-group, SIGKILL);
  if (rm_path != nullptr) execve(rm_path, rm_argv, envp);
  _exit(0);
}

// Which limit a failed tool ran into, from how it ended and what it said.
std::string LimitHit(int status, const std::string& log, const common::WasmLimits& limits) {
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (sig == SIGXCPU || absl::StrContains(log, "CPU time limit exceeded")) {
    return absl::StrCat("CPU time limit of ", limits.compile_cpu_s, " s (wasm compile CPU limit)");
  }
  if (sig == SIGXFSZ || absl::StrContains(log, "File size limit exceeded")) {
    return absl::StrCat("file size limit of ", limits.compile_file_mb,
                        " MiB (wasm compile file size limit)");
  }
  for (const char* oom : {"out of memory", "bad_alloc", "Cannot allocate memory",
                          "virtual memory exhausted", "memory exhausted"}) {
    if (absl::StrContains(log, oom)) {
      return absl::StrCat("memory limit of ", limits.compile_memory_mb,
                          " MiB (wasm compile memory limit)");
    }
  }
  return "";
}

}  // namespace

std::optional<SandboxUser> ResolveSandboxUser(const std::string& user) {
  if (geteuid() != 0 || user.empty()) return std::nullopt;
  static std::atomic<bool> warned{false};
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (getpwnam_r(user.c_str(), &entry, buffer, sizeof buffer, &found) != 0 || found == nullptr ||
      found->pw_uid == 0) {
    if (!warned.exchange(true)) {
      spdlog::warn(
          "wasm compile sandbox: user '{}' not found (or is root); Wasm AOT compiles run as root",
          user);
    }
    return std::nullopt;
  }
  return SandboxUser{found->pw_uid, found->pw_gid};
}

absl::Status RunSandboxed(const SandboxRun& run, const common::WasmLimits& limits) {
  const std::string path = FindOnPath(run.argv.at(0));
  if (path.empty() || access(path.c_str(), X_OK) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot run '", run.argv[0], "': ", std::strerror(path.empty() ? ENOENT : errno)));
  }
  std::vector<char*> argv;
  for (const std::string& a : run.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = {"TMPDIR=" + run.work_dir};
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "TMPDIR=")) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  // What the watchdog needs, prepared before any fork.
  const std::string rm_path = run.orphan_cleanup_dir.empty() ? "" : FindOnPath("rm");
  std::vector<std::string> rm_strings = {"rm", "-rf", "--one-file-system", "--",
                                         run.orphan_cleanup_dir};
  std::vector<char*> rm_argv;
  for (std::string& a : rm_strings) rm_argv.push_back(a.data());
  rm_argv.push_back(nullptr);
  int guard[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, guard) != 0) {
    return absl::UnavailableError(absl::StrCat("socketpair: ", std::strerror(errno)));
  }

  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(guard[0]);
    close(guard[1]);
    return absl::UnavailableError(absl::StrCat("fork: ", std::strerror(err)));
  }
  if (pid == 0) ExecChild(run, limits, path.c_str(), argv.data(), envp.data());
  setpgid(pid, pid);  // also here, so the kill below cannot miss the group
  const pid_t watchdog = fork();
  if (watchdog == 0) {
    WatchChild(guard[0], pid, rm_path.empty() ? nullptr : rm_path.c_str(), rm_argv.data(),
               envp.data());
  }
  close(guard[0]);
  if (watchdog < 0) {
    const int err = errno;
    kill(-pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    close(guard[1]);
    return absl::UnavailableError(absl::StrCat("fork: ", std::strerror(err)));
  }

  int status = 0;
  bool timed_out = false;
  bool cancelled = false;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    // WNOWAIT: the exited tool keeps its pid (and group id) until reaped,
    // so the group kill below cannot reach a process that reused it.
    siginfo_t info{};
    const int r = waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT);
    if ((r == 0 && info.si_pid == pid) || (r < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() >= run.deadline) {
      timed_out = true;
      break;
    }
    if (run.cancel != nullptr && run.cancel->load()) {
      cancelled = true;
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);  // at the deadline, and what the tool left running
  // Dismiss the watchdog, and reap it before the tool: until the tool is
  // reaped its pid, and so the group id the watchdog would kill, cannot be
  // reused.
  (void)!send(guard[1], "x", 1, MSG_NOSIGNAL);
  close(guard[1]);
  while (waitpid(watchdog, nullptr, 0) < 0 && errno == EINTR) {
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (cancelled) return absl::CancelledError(absl::StrCat(run.what, " was cancelled"));
  if (timed_out) {
    return absl::ResourceExhaustedError(absl::StrCat(run.what, " exceeded its time limit of ",
                                                     limits.compile_timeout_s,
                                                     " s (wasm compile time limit)"));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  const std::string log = ReadHead(run.log, 64 << 10);
  const std::string limit = LimitHit(status, log, limits);
  if (!limit.empty()) {
    return absl::ResourceExhaustedError(absl::StrCat(run.what, " exceeded its ", limit));
  }
  return absl::UnavailableError(
      absl::StrCat("'", run.argv[0], "' failed (",
                   WIFEXITED(status) ? absl::StrCat("exit ", WEXITSTATUS(status))
                                     : absl::StrCat("signal ", WTERMSIG(status)),
                   "): ", absl::StripAsciiWhitespace(log.substr(0, 600))));
}

}  // namespace stoa::functions::wasm
