// Tiered compilation (kAuto: interpreter at once, compiled code swapped in
// when wasm2c + cc finish) and isolation between the invocations that
// share pooled linear memory (hostile/secret.wat), on every engine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "functions/wasm/wasm_runtime.h"

namespace stoa::functions {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string ReadExample(const std::string& name) {
  const char* dir = std::getenv("STOA_WASM_EXAMPLES_DIR");
  std::ifstream in(std::string(dir != nullptr ? dir : "") + "/" + name + ".wasm", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

v1::FunctionSpec Spec(const std::string& name) {
  v1::FunctionSpec spec;
  spec.set_name(name);
  spec.set_runtime("wasm");
  return spec;
}

absl::StatusOr<InvocationOutput> Call(LoadedFunction& fn, std::string body) {
  InvocationInput input;
  input.raw = std::move(body);
  return fn.Invoke(input);
}

std::string AnomalyRequest(int n) {
  std::string s = R"({"sensor":"s","values":[)";
  for (int i = 0; i < n; ++i) s += (i ? "," : "") + std::to_string(20 + (i % 7 == 3 ? 9 : i % 3));
  return s + "]}";
}

class TieredTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "no AOT engine under ThreadSanitizer";
#endif
    if (ReadExample("anomaly").empty()) GTEST_SKIP() << "Wasm examples not built";
    std::string dir = (fs::temp_directory_path() / "stoa-wasm-tiered-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    cache_dir_ = dir;
  }
  void TearDown() override {
    std::error_code ec;
    if (!cache_dir_.empty()) fs::remove_all(cache_dir_, ec);
  }
  WasmRuntimeOptions Options() const {
    WasmRuntimeOptions options;
    options.engine = WasmEngine::kAuto;  // tiered by default
    options.aot_cache_dir = cache_dir_;
    return options;
  }
  std::string cache_dir_;
};

TEST_F(TieredTest, ServesAtOnceOnTheInterpreterThenSwapsInCompiledCode) {
  WasmRuntime runtime(Options());
  const std::string request = AnomalyRequest(200);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<LoadedFunctionPtr> fn = runtime.Load(Spec("anomaly"), ReadExample("anomaly"));
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(fn.ok()) << fn.status();
  // The compile takes seconds; Load did not wait for it.
  EXPECT_EQ(WasmRuntime::EngineOf(**fn), WasmEngine::kInterp) << "Load took " << load_ms << " ms";
  EXPECT_EQ(runtime.stats().background_compiles, 1u);
  absl::StatusOr<InvocationOutput> on_interp = Call(**fn, request);
  ASSERT_TRUE(on_interp.ok()) << on_interp.status();

  // Calls keep going while the compile runs; every one answers the same.
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, wrong{0};
  std::thread caller([&] {
    while (!stop) {
      absl::StatusOr<InvocationOutput> out = Call(**fn, request);
      wrong += !out.ok() || out->raw != on_interp->raw;
      ++calls;
    }
  });
  EXPECT_TRUE(WasmRuntime::AwaitCompiled(**fn, absl::Seconds(120)));
  const int before_swap = calls.load();
  while (calls.load() < before_swap + 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stop = true;
  caller.join();
  EXPECT_EQ(wrong.load(), 0) << "of " << calls.load() << " calls across the swap";
  EXPECT_EQ(WasmRuntime::EngineOf(**fn), WasmEngine::kAot);
  EXPECT_EQ(WasmRuntime::CompileError(**fn), "");
  EXPECT_EQ(runtime.stats().tier_swaps, 1u);
  EXPECT_EQ(runtime.stats().aot_compiled, 1u);
  absl::StatusOr<InvocationOutput> on_aot = Call(**fn, request);
  ASSERT_TRUE(on_aot.ok()) << on_aot.status();
  EXPECT_EQ(on_aot->raw, on_interp->raw);

  // The cache now has it: a new runtime (a restart, the other tier) starts
  // on compiled code without a background compile.
  WasmRuntime restarted(Options());
  absl::StatusOr<LoadedFunctionPtr> again = restarted.Load(Spec("anomaly"), ReadExample("anomaly"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(WasmRuntime::EngineOf(**again), WasmEngine::kAot);
  EXPECT_EQ(restarted.stats().background_compiles, 0u);
  EXPECT_EQ(restarted.stats().aot_cache_hits, 1u);
}

TEST_F(TieredTest, AFailedCompileKeepsTheInterpreterServingAndIsReported) {
  WasmRuntimeOptions options = Options();
  options.aot_compiler = "/nonexistent/stoa-cc";
  WasmRuntime runtime(options);
  absl::StatusOr<LoadedFunctionPtr> fn = runtime.Load(Spec("anomaly"), ReadExample("anomaly"));
  ASSERT_TRUE(fn.ok()) << fn.status();
  ASSERT_TRUE(WasmRuntime::AwaitCompiled(**fn, absl::Seconds(120)));
  EXPECT_EQ(WasmRuntime::EngineOf(**fn), WasmEngine::kInterp);
  EXPECT_THAT(WasmRuntime::CompileError(**fn), HasSubstr("/nonexistent/stoa-cc"));
  EXPECT_EQ(runtime.stats().interp_fallbacks, 1u);
  EXPECT_EQ(runtime.stats().tier_swaps, 0u);
  absl::StatusOr<InvocationOutput> out = Call(**fn, AnomalyRequest(16));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->raw, HasSubstr(R"("count":16)"));
  // The same module again: this process does not try to compile it twice.
  absl::StatusOr<LoadedFunctionPtr> again = runtime.Load(Spec("anomaly"), ReadExample("anomaly"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(runtime.stats().background_compiles, 1u);
  EXPECT_EQ(WasmRuntime::EngineOf(**again), WasmEngine::kInterp);
}

// A function may outlive its runtime (it keeps serving on the interpreter);
// the runtime's destructor stops its background compiles (no tool keeps
// running, nothing half-made stays in the cache), and a later runtime
// compiles the module normally.
TEST_F(TieredTest, DestroyingTheRuntimeCancelsItsBackgroundCompiles) {
  LoadedFunctionPtr survivor;
  {
    WasmRuntime runtime(Options());
    absl::StatusOr<LoadedFunctionPtr> fn =
        runtime.Load(Spec("digits_pre"), ReadExample("digits_pre"));
    ASSERT_TRUE(fn.ok()) << fn.status();
    survivor = *std::move(fn);
  }
  ASSERT_TRUE(WasmRuntime::AwaitCompiled(*survivor, absl::Seconds(10)));
  EXPECT_EQ(WasmRuntime::EngineOf(*survivor), WasmEngine::kInterp);
  EXPECT_THAT(WasmRuntime::CompileError(*survivor), HasSubstr("was cancelled"));
  for (const auto& entry : fs::directory_iterator(cache_dir_)) {
    ADD_FAILURE() << "left in the cache: " << entry.path();
  }
  absl::StatusOr<InvocationOutput> out = Call(*survivor, std::string(64, '\x10'));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->raw, HasSubstr("pixels"));

  WasmRuntime later(Options());
  absl::StatusOr<LoadedFunctionPtr> fn = later.Load(Spec("digits_pre"), ReadExample("digits_pre"));
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(later.stats().background_compiles, 1u);  // the cancel was not remembered as a failure
  ASSERT_TRUE(WasmRuntime::AwaitCompiled(**fn, absl::Seconds(120)));
  EXPECT_EQ(WasmRuntime::EngineOf(**fn), WasmEngine::kAot);
}

// One invocation plants a secret in linear memory (also in a page it grew)
// and in a mutable global; the next invocation, on the same thread and so
// the same pooled memory reservation, finds zeros, one page and no access
// to the grown page.
class IsolationTest : public ::testing::TestWithParam<WasmEngine> {
 protected:
  // Loads the example `name` into fn on a runtime of the engine under test;
  // skips the test when that engine or the examples are not there.
  void Load(const std::string& name) {
#if defined(__SANITIZE_THREAD__)
    if (GetParam() != WasmEngine::kInterp) GTEST_SKIP() << "no AOT engine under ThreadSanitizer";
#endif
    const std::string wasm = ReadExample(name);
    if (wasm.empty()) GTEST_SKIP() << "Wasm examples not built";
    WasmRuntimeOptions options;
    options.engine = GetParam();
    const char* cache = std::getenv("STOA_WASM_AOT_CACHE");
    options.aot_cache_dir = cache != nullptr ? cache : "";
    runtime = std::make_unique<WasmRuntime>(options);
    absl::StatusOr<LoadedFunctionPtr> loaded = runtime->Load(Spec(name), wasm);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    fn = *std::move(loaded);
    EXPECT_EQ(WasmRuntime::EngineOf(*fn), GetParam());
  }

  std::unique_ptr<WasmRuntime> runtime;
  LoadedFunctionPtr fn;
};

TEST_P(IsolationTest, NothingAnInvocationWritesSurvivesIntoTheNext) {
  Load("secret");
  if (IsSkipped() || HasFatalFailure()) return;
  std::string fresh(28, '\0');
  fresh[24] = 1;  // memory.size: the initial page
  for (int round = 0; round < 20; ++round) {
    const std::string secret = "S3cr" + std::to_string(1000 + round);
    ASSERT_EQ(secret.size(), 8u);
    absl::StatusOr<InvocationOutput> planted = Call(*fn, "w" + secret);
    ASSERT_TRUE(planted.ok()) << planted.status();
    std::string seen = secret + secret + secret + std::string(4, '\0');
    seen[24] = 2;  // the module did plant it (and grew its memory)
    ASSERT_EQ(planted->raw, seen);
    absl::StatusOr<InvocationOutput> read = Call(*fn, "r");
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->raw, fresh) << "round " << round;
    EXPECT_EQ(read->raw.find(secret), std::string::npos);
    ASSERT_TRUE(Call(*fn, "w" + secret).ok());
    absl::StatusOr<InvocationOutput> probe = Call(*fn, "p");
    EXPECT_EQ(probe.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(probe.status().message(), HasSubstr("out of bounds memory access"));
  }
  EXPECT_EQ(runtime->stats().interp_fallbacks, 0u);
}

// The AOT engine's pooled memories make pages read-write on first touch and
// turn eager past 64 pages (linear_memory_pool.h): whatever mix of small and
// large instances ran before on the reservation, the next finds zeros where
// they wrote, also in pages it grew, and random_get (a system call) can write
// into a page the instance had not touched (hostile/pages.wat).
TEST_P(IsolationTest, PooledPagesAreZeroWhateverTheLastInstanceTouched) {
  Load("pages");
  if (IsSkipped() || HasFatalFailure()) return;
  for (int n : {3, 70, 3, 70, 10, 80, 0, 62, 63, 64, 80, 1, 80, 2}) {
    absl::StatusOr<InvocationOutput> out = Call(*fn, std::string(1, static_cast<char>(n)));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->raw, "ok") << "after pages touched: " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, IsolationTest,
                         ::testing::Values(WasmEngine::kAot, WasmEngine::kInterp),
                         [](const auto& info) {
                           return info.param == WasmEngine::kAot ? "Aot" : "Interp";
                         });

}  // namespace
}  // namespace stoa::functions
