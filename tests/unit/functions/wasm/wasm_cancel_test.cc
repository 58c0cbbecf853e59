// InvocationInput::cancel on both Wasm engines: a running instance stops at
// once (the interpreter between slices, the AOT engine through its deadline
// timer), CANCELLED with a message that says the caller cancelled it; a
// cancel never leaks into the thread's next invocation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/cancel_signal.h"
#include "common/clock.h"
#include "functions/wasm/wasm_runtime.h"

namespace stoa::functions {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string ReadExample(const std::string& name) {
  const char* dir = std::getenv("STOA_WASM_EXAMPLES_DIR");
  std::ifstream in(std::string(dir != nullptr ? dir : "") + "/" + name + ".wasm", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

int64_t NowMs() { return common::RealClock::Get().NowMicros() / 1000; }

class WasmCancelTest : public ::testing::TestWithParam<WasmEngine> {
 protected:
  WasmCancelTest() : runtime_(Options()) {}

  static WasmRuntimeOptions Options() {
    WasmRuntimeOptions options;
    options.engine = GetParam();
    const char* cache = std::getenv("STOA_WASM_AOT_CACHE");
    options.aot_cache_dir = cache != nullptr ? cache : "";
    return options;
  }

  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    if (GetParam() == WasmEngine::kAot) GTEST_SKIP() << "no AOT engine under ThreadSanitizer";
#endif
    if (ReadExample("loop").empty()) GTEST_SKIP() << "Wasm examples not built";
  }

  LoadedFunctionPtr Load(const std::string& example) {
    v1::FunctionSpec spec;
    spec.set_name(example);
    spec.set_runtime("wasm");
    spec.mutable_limits()->set_timeout_ms(60000);
    absl::StatusOr<LoadedFunctionPtr> fn = runtime_.Load(spec, ReadExample(example));
    EXPECT_TRUE(fn.ok()) << fn.status();
    return fn.ok() ? *std::move(fn) : nullptr;
  }

  // Invokes `fn` with a signal another thread fires after `after`.
  static absl::StatusOr<InvocationOutput> InvokeCancelledAfter(LoadedFunction& fn,
                                                               std::chrono::milliseconds after) {
    common::CancelSignal cancel;
    InvocationInput input;
    input.cancel = &cancel;
    std::thread canceller([&] {
      std::this_thread::sleep_for(after);
      cancel.Cancel();
    });
    absl::StatusOr<InvocationOutput> out = fn.Invoke(input);
    canceller.join();
    return out;
  }

  WasmRuntime runtime_;
};

TEST_P(WasmCancelTest, RunningLoopStopsWhenCancelled) {
  LoadedFunctionPtr fn = Load("loop");
  ASSERT_NE(fn, nullptr);
  const int64_t start = NowMs();
  absl::StatusOr<InvocationOutput> out = InvokeCancelledAfter(*fn, 100ms);
  const int64_t elapsed = NowMs() - start;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kCancelled) << out.status();
  EXPECT_THAT(out.status().message(),
              HasSubstr("wasm function 'loop' was cancelled by its caller"));
  EXPECT_GE(elapsed, 99);
  EXPECT_LT(elapsed, 30000) << "stopped by the cancel, not by the 60 s timeout";
}

// A loop in host calls (clock_time_get) is stopped when the call returns.
TEST_P(WasmCancelTest, LoopInHostCallsStopsWhenCancelled) {
  LoadedFunctionPtr fn = Load("clock_loop");
  ASSERT_NE(fn, nullptr);
  absl::StatusOr<InvocationOutput> out = InvokeCancelledAfter(*fn, 50ms);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kCancelled) << out.status();
}

TEST_P(WasmCancelTest, AlreadyCancelledSignalStopsBeforeTheModuleRuns) {
  LoadedFunctionPtr fn = Load("loop");
  ASSERT_NE(fn, nullptr);
  common::CancelSignal cancel;
  cancel.Cancel();
  InvocationInput input;
  input.cancel = &cancel;
  EXPECT_EQ(fn->Invoke(input).status().code(), absl::StatusCode::kCancelled);
}

// Cancels racing the end of short calls (and the start of the next) never
// stop a later call that was not cancelled.
TEST_P(WasmCancelTest, CancelNeverLeaksIntoTheNextCall) {
  LoadedFunctionPtr loop = Load("loop");
  LoadedFunctionPtr anomaly = Load("anomaly");
  ASSERT_NE(loop, nullptr);
  ASSERT_NE(anomaly, nullptr);
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<InvocationOutput> out =
        InvokeCancelledAfter(*loop, std::chrono::milliseconds(i % 3));
    EXPECT_EQ(out.status().code(), absl::StatusCode::kCancelled) << out.status();
    InvocationInput input;
    input.raw = R"({"sensor":"s","values":[1,2,3]})";
    absl::StatusOr<InvocationOutput> ok = anomaly->Invoke(input);
    EXPECT_TRUE(ok.ok()) << i << ": " << ok.status();
  }
  // A loop not cancelled runs to its own budget.
  InvocationInput input;
  input.budget_us = 200000;
  const int64_t start = NowMs();
  EXPECT_EQ(loop->Invoke(input).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(NowMs() - start, 199);
}

INSTANTIATE_TEST_SUITE_P(Engines, WasmCancelTest,
                         ::testing::Values(WasmEngine::kInterp, WasmEngine::kAot),
                         [](const auto& info) {
                           return info.param == WasmEngine::kAot ? "aot" : "interp";
                         });

}  // namespace
}  // namespace stoa::functions
