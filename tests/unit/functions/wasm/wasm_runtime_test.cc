#include "functions/wasm/wasm_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/clock.h"

namespace stoa::functions {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ExamplesDir() {
  const char* dir = std::getenv("STOA_WASM_EXAMPLES_DIR");
  return dir != nullptr ? dir : "";
}

std::string ReadExample(const std::string& name) {
  std::ifstream in(ExamplesDir() + "/" + name + ".wasm", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

v1::FunctionSpec Spec(const std::string& name, uint32_t timeout_ms = 0, uint32_t memory_mb = 0) {
  v1::FunctionSpec spec;
  spec.set_name(name);
  spec.set_runtime("wasm");
  spec.mutable_limits()->set_timeout_ms(timeout_ms);
  spec.mutable_limits()->set_memory_mb(memory_mb);
  return spec;
}

// A hand-assembled module: _start does nothing; memory of 32 pages (2 MiB).
std::string TwoMiBModule() {
  const unsigned char bytes[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  // header
                                 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,              // type () -> ()
                                 0x03, 0x02, 0x01, 0x00,                          // func 0
                                 0x05, 0x03, 0x01, 0x00, 0x20,                    // memory 32
                                 0x07, 0x0a, 0x01, 0x06, '_',  's',  't',  'a',
                                 'r',  't',  0x00, 0x00,               // export
                                 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};  // code
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

// Compiled modules are shared between test cases and runs through this
// cache (set by CMake to a directory in the build tree).
std::string AotCacheDir() {
  const char* dir = std::getenv("STOA_WASM_AOT_CACHE");
  return dir != nullptr ? dir : "";
}

WasmRuntimeOptions EngineOptions(WasmEngine engine) {
  WasmRuntimeOptions options;
  options.engine = engine;
  options.aot_cache_dir = AotCacheDir();
  return options;
}

// Every behaviour test runs on both engines; kAot does not fall back, so a
// toolchain problem fails the AOT cases instead of hiding behind interp.
class WasmRuntimeTest : public ::testing::TestWithParam<WasmEngine> {
 protected:
  WasmRuntimeTest() : runtime_(EngineOptions(GetParam())) {}

  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    if (GetParam() == WasmEngine::kAot) GTEST_SKIP() << "no AOT engine under ThreadSanitizer";
#endif
    if (ReadExample("anomaly").empty()) {
      GTEST_SKIP() << "Wasm examples not built (STOA_WASM_EXAMPLES_DIR='" << ExamplesDir() << "')";
    }
  }

  LoadedFunctionPtr MustLoad(const std::string& example, uint32_t timeout_ms = 0,
                             uint32_t memory_mb = 0) {
    absl::StatusOr<LoadedFunctionPtr> fn =
        runtime_.Load(Spec(example, timeout_ms, memory_mb), ReadExample(example));
    EXPECT_TRUE(fn.ok()) << fn.status();
    if (!fn.ok()) return nullptr;
    EXPECT_EQ(WasmRuntime::EngineOf(**fn), GetParam());
    return *std::move(fn);
  }

  static absl::StatusOr<InvocationOutput> Run(LoadedFunction& fn, std::string body) {
    InvocationInput input;
    input.raw = std::move(body);
    return fn.Invoke(input);
  }

  WasmRuntime runtime_;
};

constexpr char kWindow[] = R"({"sensor":"t-1","values":[20,20.1,19.9,20.2,35,20,19.8]})";

TEST_P(WasmRuntimeTest, AnomalyDetectorRoundTrip) {
  LoadedFunctionPtr fn = MustLoad("anomaly");
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(fn->spec().runtime(), "wasm");
  EXPECT_EQ(fn->spec().content_type(), "application/octet-stream");
  absl::StatusOr<InvocationOutput> out = Run(*fn, kWindow);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->raw, HasSubstr(R"("sensor":"t-1","count":7,"median":20)"));
  EXPECT_THAT(out->raw, HasSubstr(R"("anomalies":[{"index":4,"value":35,)"));
}

TEST_P(WasmRuntimeTest, BadRequestIsExitStatusWithStderr) {
  LoadedFunctionPtr fn = MustLoad("anomaly");
  ASSERT_NE(fn, nullptr);
  absl::StatusOr<InvocationOutput> out = Run(*fn, R"({"readings":[1]})");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(out.status().message(), HasSubstr("exited with status 2"));
  EXPECT_THAT(out.status().message(), HasSubstr("request has no \"values\" array"));
}

TEST_P(WasmRuntimeTest, DigitsPreprocessorRawAndPgm) {
  LoadedFunctionPtr fn = MustLoad("digits_pre");
  ASSERT_NE(fn, nullptr);
  std::string raw(64, '\0');
  raw[0] = static_cast<char>(255);
  raw[9] = static_cast<char>(128);
  absl::StatusOr<InvocationOutput> out = Run(*fn, raw);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(
      out->raw,
      HasSubstr(
          R"({"inputs":[{"name":"pixels","shape":[1,64],"datatype":"FP32","data":[16,0,0,0,0,0,0,0,0,8,0)"));

  // 16x16 white image with a black 2x2 block in the top-left corner: after
  // averaging and inverting, cell (0,0) is full ink, the rest empty.
  std::string pgm = "P5\n# test\n16 16\n255\n";
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) pgm.push_back(static_cast<char>(x < 2 && y < 2 ? 0 : 255));
  }
  out = Run(*fn, pgm);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->raw, HasSubstr(R"("data":[16,0,0,0,0,0,0,0,0,0,)"));

  out = Run(*fn, "P5\n16 16\n255\nshort");
  EXPECT_THAT(out.status().message(), HasSubstr("PGM pixel data is truncated"));
}

TEST_P(WasmRuntimeTest, WasiHostGivesArgsClockRandomButNoFiles) {
  LoadedFunctionPtr fn = MustLoad("probe");
  ASSERT_NE(fn, nullptr);
  absl::StatusOr<InvocationOutput> out = Run(*fn, "hello");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->raw,
            "argc=1 argv0=probe\nenviron=0\nclock=ok\nrandom=ok\nfopen=denied\nstdin=hello\n");
}

TEST_P(WasmRuntimeTest, EveryInvocationGetsAFreshInstance) {
  LoadedFunctionPtr fn = MustLoad("stateful");
  ASSERT_NE(fn, nullptr);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<InvocationOutput> out = Run(*fn, "");
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->raw, "calls=1\n");
  }
}

TEST_P(WasmRuntimeTest, InfiniteLoopStopsAtSpecTimeout) {
  LoadedFunctionPtr fn = MustLoad("loop", /*timeout_ms=*/100);
  ASSERT_NE(fn, nullptr);
  const int64_t start_us = common::RealClock::Get().NowMicros();
  absl::StatusOr<InvocationOutput> out = Run(*fn, "");
  const int64_t elapsed_ms = (common::RealClock::Get().NowMicros() - start_us) / 1000;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(out.status().message(), HasSubstr("did not finish by its deadline (100 ms)"));
  EXPECT_GE(elapsed_ms, 99);
  EXPECT_LT(elapsed_ms, 100 + 80);  // the deadline plus a little scheduling slack
}

// Deadlines that pass during instantiation or right after it (the timer can
// fire before the module runs) still stop the loop.
TEST_P(WasmRuntimeTest, VeryShortDeadlinesAlwaysStopTheLoop) {
  LoadedFunctionPtr fn = MustLoad("loop", /*timeout_ms=*/60000);
  ASSERT_NE(fn, nullptr);
  const int64_t start_us = common::RealClock::Get().NowMicros();
  for (int i = 0; i < 60; ++i) {
    InvocationInput input;
    input.budget_us = 1 + (i * 37) % 400;
    EXPECT_EQ(fn->Invoke(input).status().code(), absl::StatusCode::kDeadlineExceeded);
  }
  EXPECT_LT(common::RealClock::Get().NowMicros() - start_us, 2000000);
}

// The deadline also stops a loop that spends its time in host calls
// (clock_time_get): the AOT engine never unwinds a host call, it stops the
// module when the call returns.
TEST_P(WasmRuntimeTest, LoopInHostCallsStopsAtTheDeadline) {
  LoadedFunctionPtr fn = MustLoad("clock_loop", /*timeout_ms=*/80);
  ASSERT_NE(fn, nullptr);
  for (int i = 0; i < 3; ++i) {
    const int64_t start_us = common::RealClock::Get().NowMicros();
    absl::StatusOr<InvocationOutput> out = Run(*fn, "");
    const int64_t elapsed_ms = (common::RealClock::Get().NowMicros() - start_us) / 1000;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded) << out.status();
    EXPECT_LT(elapsed_ms, 80 + 80);
  }
}

// The AOT engine leaves its deadline timer armed between calls and re-arms
// it only when needed: an expiry meant for an earlier, shorter call must not
// stop a later call early, and a later, shorter deadline must still be kept.
TEST_P(WasmRuntimeTest, AnEarlierCallsDeadlineNeitherStopsNorDelaysTheNext) {
  LoadedFunctionPtr quick = MustLoad("anomaly");
  LoadedFunctionPtr loop = MustLoad("loop", /*timeout_ms=*/60000);
  ASSERT_NE(quick, nullptr);
  ASSERT_NE(loop, nullptr);
  auto run = [](LoadedFunction& fn, int64_t budget_us, std::string body) {
    InvocationInput input;
    input.raw = std::move(body);
    input.budget_us = budget_us;
    const int64_t start_us = common::RealClock::Get().NowMicros();
    absl::StatusOr<InvocationOutput> out = fn.Invoke(input);
    return std::make_pair(out.status().code(),
                          (common::RealClock::Get().NowMicros() - start_us) / 1000);
  };
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(run(*quick, 30000, kWindow).first, absl::StatusCode::kOk);
    auto [code, elapsed_ms] = run(*loop, 300000, "");  // past the quick call's 30 ms
    EXPECT_EQ(code, absl::StatusCode::kDeadlineExceeded);
    EXPECT_GE(elapsed_ms, 299) << "stopped by the earlier call's deadline";
    EXPECT_LT(elapsed_ms, 300 + 80);

    EXPECT_EQ(run(*quick, 10000000, kWindow).first, absl::StatusCode::kOk);
    std::tie(code, elapsed_ms) = run(*loop, 50000, "");  // shorter than the 10 s left armed
    EXPECT_EQ(code, absl::StatusCode::kDeadlineExceeded);
    EXPECT_GE(elapsed_ms, 49);
    EXPECT_LT(elapsed_ms, 50 + 80) << "the later, shorter deadline was not kept";
  }
}

TEST_P(WasmRuntimeTest, InfiniteLoopStopsAtInvocationDeadline) {
  LoadedFunctionPtr fn = MustLoad("loop", /*timeout_ms=*/60000);
  ASSERT_NE(fn, nullptr);
  InvocationInput input;
  input.budget_us = 50000;
  absl::StatusOr<InvocationOutput> out = fn->Invoke(input);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_P(WasmRuntimeTest, OutOfBoundsWriteTraps) {
  LoadedFunctionPtr fn = MustLoad("oob");
  ASSERT_NE(fn, nullptr);
  absl::StatusOr<InvocationOutput> out = Run(*fn, "");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(out.status().message(), HasSubstr("wasm trap: out of bounds memory access"));
}

TEST_P(WasmRuntimeTest, StackOverflowTraps) {
  LoadedFunctionPtr fn = MustLoad("recurse");
  ASSERT_NE(fn, nullptr);
  absl::StatusOr<InvocationOutput> out = Run(*fn, "");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(out.status().message(), HasSubstr("wasm trap: call stack exhausted"));
}

TEST_P(WasmRuntimeTest, MemoryBombHitsTheCap) {
  LoadedFunctionPtr fn = MustLoad("membomb", 0, /*memory_mb=*/16);
  ASSERT_NE(fn, nullptr);
  absl::StatusOr<InvocationOutput> out = Run(*fn, "");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(out.status().message(), HasSubstr("wasm trap: unreachable executed"));
  EXPECT_THAT(out.status().message(), HasSubstr("linear memory is near its limit: "));
  EXPECT_THAT(out.status().message(), HasSubstr(" of 16 MiB; memory.grow beyond it fails"));
  EXPECT_THAT(out.status().message(), HasSubstr("memory bomb: malloc failed after 1"));
}

// A guest malloc past limits.memory_mb gets NULL at once (memory.grow
// returns -1 at the cap), and the exit names the cap.
TEST_P(WasmRuntimeTest, MallocPastTheCapReturnsNull) {
  LoadedFunctionPtr fn = MustLoad("malloc_loop", /*timeout_ms=*/600'000, /*memory_mb=*/16);
  ASSERT_NE(fn, nullptr);
  absl::StatusOr<InvocationOutput> out = Run(*fn, "65536");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(out.status().message(),
              HasSubstr("function exited with status 1 (linear memory is near its limit: "));
  EXPECT_THAT(out.status().message(), HasSubstr(" of 16 MiB; memory.grow beyond it fails)"));
  EXPECT_THAT(out.status().message(),
              HasSubstr("malloc returned NULL after 16192 KiB in blocks of 65536 bytes"));
}

TEST_P(WasmRuntimeTest, NonZeroExitCarriesStderr) {
  LoadedFunctionPtr fn = MustLoad("fail");
  ASSERT_NE(fn, nullptr);
  absl::StatusOr<InvocationOutput> out = Run(*fn, "");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(out.status().message(),
            "function exited with status 3; stderr: sensor offline: no data");
}

// The host C library (functions/wasm/host_libc.h, guest header
// functions/wasm/guest/stoa_libc.h) answers what the guest's own libc
// (wasi-libc, musl) answers: the probe module built with the header and
// without prints the same battery of snprintf and strtod results, including
// the conversions the host leaves to the guest (%p, %n, %a, long double,
// positional arguments, huge fields, a 70,000-digit number).
TEST_P(WasmRuntimeTest, HostLibcAnswersWhatTheGuestLibcAnswers) {
  LoadedFunctionPtr host = MustLoad("libc_probe_host");
  LoadedFunctionPtr guest = MustLoad("libc_probe_guest");
  ASSERT_NE(host, nullptr);
  ASSERT_NE(guest, nullptr);
  absl::StatusOr<InvocationOutput> h = Run(*host, "");
  absl::StatusOr<InvocationOutput> g = Run(*guest, "");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(g.ok()) << g.status();
  const std::vector<std::string> host_lines = absl::StrSplit(h->raw, '\n');
  const std::vector<std::string> guest_lines = absl::StrSplit(g->raw, '\n');
  ASSERT_EQ(host_lines.size(), guest_lines.size());
  EXPECT_GT(host_lines.size(), 175u);
  for (size_t i = 0; i < host_lines.size(); ++i) EXPECT_EQ(host_lines[i], guest_lines[i]);
  // Spot checks that the battery says what C says.
  EXPECT_THAT(h->raw, HasSubstr("=> 44 [42|-42|   42|42   |-0042|+42| 42|-2147483648]"));
  EXPECT_THAT(h->raw, HasSubstr("strtod \"3.14\" => 40091eb851eb851f used 04 ok"));
  EXPECT_THAT(h->raw, HasSubstr("strtod \"1e400\" => 7ff0000000000000 used 05 ERANGE"));
  EXPECT_THAT(h->raw, HasSubstr("size 5 => 11 [hell\\00ZZZ]"));
  EXPECT_THAT(h->raw, HasSubstr("long number => "));
  EXPECT_THAT(h->raw, HasSubstr(" end ok"));
  // qsort (the header's introsort against musl's smoothsort): 45 arrays of
  // ints, doubles and 12-byte records, random, sorted, reversed, with many
  // equal keys and organ-pipe shaped, sorted to the same keys.
  size_t sorted = 0;
  for (const std::string& line : host_lines) sorted += line.rfind("sort ordered ", 0) == 0;
  EXPECT_EQ(sorted, 45u);
  EXPECT_THAT(h->raw, Not(HasSubstr("NOT ORDERED")));
}

// A pointer outside linear memory handed to the host traps as the guest's
// own access would, on both engines; the runtime goes on serving.
TEST_P(WasmRuntimeTest, HostLibcPointerOutsideMemoryTraps) {
  LoadedFunctionPtr host = MustLoad("libc_probe_host");
  ASSERT_NE(host, nullptr);
  for (const char* request : {"oob-fmt", "oob-buf", "oob-s", "oob-strtod", "oob-end"}) {
    absl::StatusOr<InvocationOutput> out = Run(*host, request);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal) << request;
    EXPECT_THAT(out.status().message(), HasSubstr("wasm trap: out of bounds memory access"))
        << request;
  }
  absl::StatusOr<InvocationOutput> again = Run(*host, "");
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_P(WasmRuntimeTest, InvalidModulesAreRefusedNamingTheProblem) {
  struct Case {
    std::string artifact;
    std::string message;
  };
  const std::string anomaly = ReadExample("anomaly");
  const std::vector<Case> cases = {
      {"", "artifact is not a WebAssembly module: the artifact is empty"},
      {"hello world, not wasm", "does not start with the Wasm magic bytes"},
      {anomaly.substr(0, anomaly.size() / 2), "invalid WebAssembly module: "},
      {ReadExample("forbidden_import"), "import 'env.open_socket' is not allowed"},
      {ReadExample("import_memory"), "import 'wasi_snapshot_preview1.memory' is not a function"},
      {ReadExample("no_start"), "module exports no _start function"},
      {ReadExample("libc_bad_import"),
       "import 'stoa_libc.system' is not allowed: stoa_libc offers strtod and vsnprintf"},
      {ReadExample("libc_bad_signature"),
       "import 'stoa_libc.strtod' has signature (i32) -> (f64); the host defines (i32, i32, i32) "
       "-> (i32)"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<LoadedFunctionPtr> fn = runtime_.Load(Spec("bad"), c.artifact);
    EXPECT_EQ(fn.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(fn.status().message(), HasSubstr(c.message));
  }
}

// Tables are capped like memories: a huge declaration is refused at Load
// (it used to be allocated whole by every instance), and table.grow past
// the cap fails with -1 on both engines.
TEST_P(WasmRuntimeTest, TablesAreCappedLikeMemories) {
  absl::StatusOr<LoadedFunctionPtr> fn = runtime_.Load(Spec("big"), ReadExample("big_table"));
  EXPECT_EQ(fn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(fn.status().message(),
              HasSubstr("table 0 declares 10000000 entries at start; the limit is 100000 entries "
                        "per table"));
  LoadedFunctionPtr grow = MustLoad("table_grow");
  ASSERT_NE(grow, nullptr);
  absl::StatusOr<InvocationOutput> out = Run(*grow, "");
  EXPECT_TRUE(out.ok()) << out.status();  // a grow past the cap would reach `unreachable`

  WasmRuntimeOptions roomy = EngineOptions(GetParam());
  roomy.max_table_entries = 300'000;
  WasmRuntime runtime(roomy);
  fn = runtime.Load(Spec("table_grow"), ReadExample("table_grow"));
  ASSERT_TRUE(fn.ok()) << fn.status();
  out = Run(**fn, "");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(out.status().message(), HasSubstr("unreachable"));
}

TEST_P(WasmRuntimeTest, InitialMemoryAboveTheCapIsRefused) {
  absl::StatusOr<LoadedFunctionPtr> fn = runtime_.Load(Spec("big", 0, 1), TwoMiBModule());
  EXPECT_EQ(fn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(fn.status().message(),
              HasSubstr("module needs 2 MiB of linear memory at start; limits.memory_mb is 1"));
  fn = runtime_.Load(Spec("big", 0, 2), TwoMiBModule());
  ASSERT_TRUE(fn.ok()) << fn.status();
  absl::StatusOr<InvocationOutput> out = Run(**fn, "ignored");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->raw, "");
}

TEST_P(WasmRuntimeTest, WellBehavedCallsKeepWorkingBesideHostileOnes) {
  LoadedFunctionPtr good = MustLoad("anomaly");
  LoadedFunctionPtr loop = MustLoad("loop", /*timeout_ms=*/300);
  LoadedFunctionPtr bomb = MustLoad("membomb", 0, /*memory_mb=*/32);
  LoadedFunctionPtr oob = MustLoad("oob");
  LoadedFunctionPtr recurse = MustLoad("recurse");
  ASSERT_TRUE(good && loop && bomb && oob && recurse);
  std::atomic<int> good_ok{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(Run(*loop, "").status().code(), absl::StatusCode::kDeadlineExceeded);
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; i < 3; ++i) {
      EXPECT_THAT(Run(*bomb, "").status().message(), HasSubstr("unreachable executed"));
      EXPECT_THAT(Run(*oob, "").status().message(), HasSubstr("out of bounds memory access"));
      EXPECT_THAT(Run(*recurse, "").status().message(), HasSubstr("call stack exhausted"));
    }
  });
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        absl::StatusOr<InvocationOutput> out = Run(*good, kWindow);
        if (out.ok() && out->raw.find(R"("index":4)") != std::string::npos) ++good_ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(good_ok.load(), 60);
}

INSTANTIATE_TEST_SUITE_P(Engines, WasmRuntimeTest,
                         ::testing::Values(WasmEngine::kAot, WasmEngine::kInterp),
                         [](const ::testing::TestParamInfo<WasmEngine>& info) {
                           return info.param == WasmEngine::kAot ? "Aot" : "Interp";
                         });

}  // namespace
}  // namespace stoa::functions
