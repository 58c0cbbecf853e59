// The AOT compile sandbox (functions/wasm/compile_sandbox.h) with /bin/sh
// standing in for the tools: each limit is applied to the child, a limit
// that was hit is named, the process group goes with the tool, and as root
// the tool runs as the unprivileged user.
#include "functions/wasm/compile_sandbox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

namespace stoa::functions::wasm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CompileSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "stoa-sandbox-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    user_ = ResolveSandboxUser("nobody");
    if (user_) {
      ASSERT_EQ(chown(dir_.c_str(), user_->uid, user_->gid), 0);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `script` under sh in `work` (dir_ by default).
  SandboxRun ShRun(const std::string& script, int timeout_s = 30, const fs::path& work = {}) {
    const fs::path dir = work.empty() ? dir_ : work;
    SandboxRun run;
    run.argv = {"sh", "-c", script};
    run.work_dir = dir.string();
    run.log = (dir / "log").string();
    run.user = user_;
    run.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    run.what = "wasm AOT compile of 'f'";
    return run;
  }
  absl::Status Sh(const std::string& script, int timeout_s = 30) {
    return RunSandboxed(ShRun(script, timeout_s), limits_);
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  common::WasmLimits limits_;
  fs::path dir_;
  std::optional<SandboxUser> user_;
};

TEST_F(CompileSandboxTest, TheToolRunsUnderTheLimitsInTheWorkDir) {
  limits_.compile_memory_mb = 1024;
  limits_.compile_cpu_s = 7;
  ASSERT_TRUE(Sh("{ ulimit -v; ulimit -t; ulimit -c; pwd; echo $TMPDIR; id -u; } > out").ok())
      << Read("log");
  std::stringstream expected;
  expected << 1024 * 1024 << "\n7\n0\n"
           << dir_.string() << "\n"
           << dir_.string() << "\n"
           << (user_ ? user_->uid : geteuid()) << "\n";
  EXPECT_EQ(Read("out"), expected.str());
  if (geteuid() == 0 && user_) {
    EXPECT_NE(user_->uid, 0u);
  }
}

TEST_F(CompileSandboxTest, TheWallClockLimitKillsTheWholeGroup) {
  limits_.compile_timeout_s = 1;
  absl::Status s = Sh("sleep 60 & echo $! > bg; sleep 60", /*timeout_s=*/1);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "wasm AOT compile of 'f' exceeded its time limit of 1 s (wasm compile time limit)");
  const pid_t background = std::atoi(Read("bg").c_str());
  ASSERT_GT(background, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {  // reaped by init once killed
    gone = kill(background, 0) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone);
}

// True once `pid` is gone or a zombie (killed, not yet reaped by init).
bool Dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

bool WaitUntil(const std::function<bool()>& done, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// The gateway is SIGKILLed in the middle of a compile: the watchdog kills
// the tool's whole group (which would otherwise run on under init) and
// removes the work directory.
TEST_F(CompileSandboxTest, AToolWhoseCallerDiesIsKilledWithItsWorkDir) {
  const fs::path work = dir_ / "work";
  fs::create_directory(work);
  if (user_) {
    ASSERT_EQ(chown(work.c_str(), user_->uid, user_->gid), 0);
  }
  const pid_t caller = fork();
  ASSERT_GE(caller, 0);
  if (caller == 0) {
    SandboxRun run =
        ShRun("sleep 60 & echo $$ $! > pids.tmp; mv pids.tmp pids; sleep 60", 120, work);
    run.orphan_cleanup_dir = work.string();
    (void)RunSandboxed(run, limits_);
    _exit(0);
  }
  pid_t tool = 0;
  pid_t background = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::ifstream in(work / "pids");
        return static_cast<bool>(in >> tool >> background);
      },
      10000))
      << "the tool never started";
  ASSERT_EQ(kill(caller, SIGKILL), 0);
  ASSERT_EQ(waitpid(caller, nullptr, 0), caller);
  EXPECT_TRUE(WaitUntil([&] { return Dead(tool) && Dead(background); }, 5000))
      << "the tool's group outlived its caller";
  EXPECT_TRUE(WaitUntil([&] { return !fs::exists(work); }, 5000))
      << "the work directory was left behind";
  kill(-tool, SIGKILL);  // the tool's group; only if the assertions above failed
}

// A normal run dismisses the watchdog: the work directory stays.
TEST_F(CompileSandboxTest, ANormalRunKeepsItsWorkDir) {
  SandboxRun run = ShRun("echo done > out");
  run.orphan_cleanup_dir = dir_.string();
  ASSERT_TRUE(RunSandboxed(run, limits_).ok()) << Read("log");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Read("out"), "done\n");
}

TEST_F(CompileSandboxTest, TheCpuLimitIsNamed) {
  limits_.compile_cpu_s = 1;
  absl::Status s = Sh("while :; do :; done", /*timeout_s=*/120);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(),
              HasSubstr("exceeded its CPU time limit of 1 s (wasm compile CPU limit)"));
}

TEST_F(CompileSandboxTest, AnOutOfMemoryToolIsNamed) {
  // What cc says when cc1 runs into RLIMIT_AS.
  absl::Status s = Sh("echo 'cc1: out of memory allocating 65536 bytes' >&2; exit 1");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "wasm AOT compile of 'f' exceeded its memory limit of 2048 MiB (wasm compile memory "
            "limit)");
}

TEST_F(CompileSandboxTest, TheFileSizeLimitIsNamed) {
  limits_.compile_file_mb = 1;
  absl::Status s = Sh("exec head -c 4000000 /dev/zero > big");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("file size limit of 1 MiB (wasm compile file size limit)"));
}

TEST_F(CompileSandboxTest, OtherFailuresAreUnavailableWithTheLog) {
  absl::Status s = Sh("echo 'module.c:1: error: nope' >&2; exit 3");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "'sh' failed (exit 3): module.c:1: error: nope");
  SandboxRun run;
  run.argv = {"stoa-no-such-tool"};
  run.work_dir = dir_.string();
  run.log = (dir_ / "log").string();
  run.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  EXPECT_EQ(RunSandboxed(run, limits_).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace stoa::functions::wasm
