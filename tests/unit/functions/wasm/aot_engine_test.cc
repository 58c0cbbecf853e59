// The AOT engine's own machinery: the on-disk cache of compiled modules,
// the fallback to the interpreter, linear-memory reuse, and that faults
// which are not a module's still reach the process's default handling.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "functions/wasm/wasm_runtime.h"

namespace stoa::functions {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// _start does nothing; memory of 32 pages (2 MiB), exported as "memory".
std::string TinyModule() {
  const unsigned char bytes[] = {
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                         // header
      0x01, 0x04, 0x01, 0x60, 0x00, 0x00,                                     // type () -> ()
      0x03, 0x02, 0x01, 0x00,                                                 // func 0
      0x05, 0x03, 0x01, 0x00, 0x20,                                           // memory 32
      0x07, 0x13, 0x02, 0x06, '_',  's',  't',  'a',  'r',  't', 0x00, 0x00,  // export _start
      0x06, 'm',  'e',  'm',  'o',  'r',  'y',  0x02, 0x00,                   // export memory
      0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};                                    // code
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

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

class AotEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "no AOT engine under ThreadSanitizer";
#endif
    std::string dir = (fs::temp_directory_path() / "stoa-wasm-aot-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    cache_dir_ = dir;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(cache_dir_, ec);
  }

  WasmRuntimeOptions Options(WasmEngine engine = WasmEngine::kAot) const {
    WasmRuntimeOptions options;
    options.engine = engine;
    options.aot_cache_dir = cache_dir_;
    return options;
  }

  std::vector<std::string> CacheFiles() const {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(cache_dir_)) {
      files.push_back(entry.path().filename().string());
    }
    return files;
  }

  std::string cache_dir_;
};

TEST_F(AotEngineTest, CompiledModuleIsCachedAndReusedAcrossRuntimes) {
  WasmRuntime first(Options());
  absl::StatusOr<LoadedFunctionPtr> fn = first.Load(Spec("tiny"), TinyModule());
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(WasmRuntime::EngineOf(**fn), WasmEngine::kAot);
  EXPECT_EQ(first.stats().aot_compiled, 1u);
  EXPECT_EQ(first.stats().aot_cache_hits, 0u);
  EXPECT_GT(first.stats().last_compile_ms, 0);
  const std::vector<std::string> files = CacheFiles();
  ASSERT_EQ(files.size(), 1u);  // the .so only: no temporary directory left behind
  EXPECT_THAT(files[0], ::testing::EndsWith(".so"));

  ASSERT_TRUE(first.Load(Spec("tiny"), TinyModule()).ok());
  EXPECT_EQ(first.stats().aot_compiled, 1u);
  EXPECT_EQ(first.stats().aot_cache_hits, 1u);

  WasmRuntime restarted(Options());  // a new process would find the same file
  absl::StatusOr<LoadedFunctionPtr> again = restarted.Load(Spec("tiny"), TinyModule());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(restarted.stats().aot_compiled, 0u);
  EXPECT_EQ(restarted.stats().aot_cache_hits, 1u);
  absl::StatusOr<InvocationOutput> out = (*again)->Invoke({});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->raw, "");
  EXPECT_EQ(CacheFiles(), files);
}

TEST_F(AotEngineTest, ConcurrentLoadsCompileOnce) {
  WasmRuntime runtime(Options());
  std::vector<std::thread> threads;
  std::atomic<int> loaded{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] { loaded += runtime.Load(Spec("tiny"), TinyModule()).ok(); });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(loaded.load(), 4);
  EXPECT_EQ(runtime.stats().aot_compiled, 1u);
  EXPECT_EQ(runtime.stats().aot_cache_hits, 3u);
}

TEST_F(AotEngineTest, FallsBackToTheInterpreterWithoutACompiler) {
  WasmRuntimeOptions options = Options(WasmEngine::kAuto);
  options.aot_compiler = "/nonexistent/stoa-cc";
  WasmRuntime runtime(options);
  absl::StatusOr<LoadedFunctionPtr> fn = runtime.Load(Spec("tiny"), TinyModule());
  ASSERT_TRUE(fn.ok()) << fn.status();
  // Tiered: the compile fails in the background, the interpreter stays.
  ASSERT_TRUE(WasmRuntime::AwaitCompiled(**fn, absl::Seconds(60)));
  EXPECT_EQ(WasmRuntime::EngineOf(**fn), WasmEngine::kInterp);
  EXPECT_EQ(runtime.stats().interp_fallbacks, 1u);
  EXPECT_EQ(runtime.stats().aot_compiled, 0u);
  EXPECT_TRUE((*fn)->Invoke({}).ok());
  EXPECT_TRUE(CacheFiles().empty());  // nothing half-made is left

  options.aot_translator = "/nonexistent/wasm2c";
  options.engine = WasmEngine::kAot;  // no fallback: the load fails
  WasmRuntime strict(options);
  fn = strict.Load(Spec("tiny"), TinyModule());
  EXPECT_EQ(fn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(fn.status().message(), HasSubstr("cannot run '/nonexistent/wasm2c'"));
}

// The cache holds code the process runs: a directory others may write to is
// not trusted (kAuto falls back to the interpreter).
TEST_F(AotEngineTest, SharedWritableCacheDirectoryIsRefused) {
  ASSERT_EQ(chmod(cache_dir_.c_str(), 0777), 0);
  WasmRuntime strict(Options(WasmEngine::kAot));
  absl::StatusOr<LoadedFunctionPtr> fn = strict.Load(Spec("tiny"), TinyModule());
  EXPECT_EQ(fn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(fn.status().message(), HasSubstr("is not a private directory"));
  WasmRuntime lenient(Options(WasmEngine::kAuto));
  fn = lenient.Load(Spec("tiny"), TinyModule());
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(WasmRuntime::EngineOf(**fn), WasmEngine::kInterp);
  EXPECT_TRUE(CacheFiles().empty());
}

TEST_F(AotEngineTest, InterpEngineNeverCompiles) {
  WasmRuntime runtime(Options(WasmEngine::kInterp));
  absl::StatusOr<LoadedFunctionPtr> fn = runtime.Load(Spec("tiny"), TinyModule());
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(WasmRuntime::EngineOf(**fn), WasmEngine::kInterp);
  EXPECT_EQ(runtime.stats().interp_fallbacks, 0u);
  EXPECT_TRUE(CacheFiles().empty());
}

TEST_F(AotEngineTest, InstancesReuseLinearMemoryReservations) {
  WasmRuntime runtime(Options());
  absl::StatusOr<LoadedFunctionPtr> fn = runtime.Load(Spec("tiny"), TinyModule());
  ASSERT_TRUE(fn.ok()) << fn.status();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*fn)->Invoke({}).ok());
  EXPECT_EQ(runtime.stats().memories_reserved, 1u);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) EXPECT_TRUE((*fn)->Invoke({}).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(runtime.stats().memories_reserved, 3u);
}

// A reused reservation starts zeroed: the stateful example keeps a counter
// in linear memory and must read 1 on every call, on every thread.
TEST_F(AotEngineTest, ReusedMemoryStartsZeroed) {
  const std::string wasm = ReadExample("stateful");
  if (wasm.empty()) GTEST_SKIP() << "Wasm examples not built";
  WasmRuntimeOptions options = Options();
  if (const char* shared = std::getenv("STOA_WASM_AOT_CACHE")) options.aot_cache_dir = shared;
  WasmRuntime runtime(options);
  absl::StatusOr<LoadedFunctionPtr> fn = runtime.Load(Spec("stateful"), wasm);
  ASSERT_TRUE(fn.ok()) << fn.status();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<InvocationOutput> out = (*fn)->Invoke({});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->raw, "calls=1\n");
  }
}

// The fault handler takes only faults inside generated code; a wild pointer
// in host code still kills the process as it would without Wasm.
TEST_F(AotEngineTest, FaultsOutsideWasmAreNotSwallowed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  WasmRuntime runtime(Options());
  absl::StatusOr<LoadedFunctionPtr> fn = runtime.Load(Spec("tiny"), TinyModule());
  ASSERT_TRUE(fn.ok()) << fn.status();  // the handlers are installed now
  ASSERT_TRUE((*fn)->Invoke({}).ok());
  EXPECT_DEATH(
      {
        // The child re-ran SetUp (threadsafe style) and never runs TearDown.
        std::error_code ec;
        fs::remove_all(cache_dir_, ec);
        volatile int* wild = nullptr;
        *wild = 1;
      },
      "");
}

}  // namespace
}  // namespace stoa::functions
