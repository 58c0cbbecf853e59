// Issue 10, Wasm limits and the AOT compile sandbox, against the real
// stoa-gateway and stoa-executor: module shape bombs are refused before
// anything big is built, on REST and on gRPC LoadFunction, naming the limit;
// a compile bomb let through to the compiler is stopped by the sandbox
// without holding up another module's registration; a guest malloc past
// limits.memory_mb gets NULL at once on both tiers. After each case both
// processes keep serving, and time and memory stay bounded.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "stoa/v1/executor.grpc.pb.h"
#include "tests/fakes/functions/wasm_builders.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

using functions::testing::Leb;
using functions::testing::Section;

// A WASI command of `functions` empty functions, the first (exported as
// _start) declaring `locals` i64 locals, with `padding` bytes of custom
// section. Module(1, 3'000'000) is the 55-byte locals bomb.
std::string Module(uint32_t functions, uint32_t locals, size_t padding = 0) {
  std::string out("\0asm\1\0\0\0", 8);
  out += Section(1, Leb(1) + std::string("\x60\x00\x00", 3));
  out += Section(3, Leb(functions) + std::string(functions, '\0'));
  out += Section(5, std::string("\x01\x00\x01", 3));
  out += Section(7, Leb(2) + Leb(6) + "_start" + std::string("\0\0", 2) + Leb(6) + "memory" +
                        std::string("\x02\x00", 2));
  std::string bodies;
  for (uint32_t i = 0; i < functions; ++i) {
    const std::string body =
        (i == 0 && locals != 0 ? Leb(1) + Leb(locals) + "\x7e" : Leb(0)) + "\x0b";
    bodies += Leb(body.size()) + body;
  }
  out += Section(10, Leb(functions) + bodies);
  if (padding != 0) out += Section(0, Leb(3) + "pad" + std::string(padding, 'p'));
  return out;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

class WasmLimitsTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& flags) {
    const std::string cache = MakeTempDir("wasm-limits-cache");  // shared: one compile per module
    std::vector<std::string> args = {"--listen", "127.0.0.1:0",      "--threads",
                                     "2",        "--wasm-cache-dir", cache + "/aot"};
    args.insert(args.end(), flags.begin(), flags.end());
    executor_ = Process::Start(BinaryPath("stoa-executor"), args);
    ASSERT_NE(executor_, nullptr);
    args = {"--listen",         "127.0.0.1:0",        "--data-dir",     MakeTempDir("wasm-limits"),
            "--cloud",          executor_->address(), "--edge-threads", "2",
            "--wasm-cache-dir", cache + "/aot"};
    args.insert(args.end(), flags.begin(), flags.end());
    gateway_ = Process::Start(BinaryPath("stoa-gateway"), args);
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
    stub_ = v1::Executor::NewStub(
        grpc::CreateChannel(executor_->address(), grpc::InsecureChannelCredentials()));
    ASSERT_EQ(Register("digits", R"({"name":"digits","runtime":"onnx"})",
                       ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx")))
                  .status,
              201);
    ExpectServing();
  }

  HttpResult Register(const std::string& name, const std::string& spec, const std::string& wasm,
                      HttpClient* client = nullptr) {
    (void)name;
    Multipart reg = MakeRegistration(spec, wasm);
    return (client ? client : client_.get())
        ->Request("POST", "/v1/functions", reg.body, reg.content_type, 120000);
  }

  grpc::Status Load(const std::string& name, const std::string& wasm) {
    v1::LoadFunctionRequest req;
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_runtime("wasm");
    req.mutable_spec()->set_sha256(common::Sha256Hex(wasm));
    req.set_artifact(wasm);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::LoadFunctionResponse resp;
    return stub_->LoadFunction(&ctx, req, &resp);
  }

  // Both processes answer: /healthz, and the digits model on both tiers.
  void ExpectServing() {
    EXPECT_EQ(client_->Get("/healthz").status, 200);
    std::string pixels = "[";
    for (int i = 0; i < 64; ++i) pixels += i == 0 ? "8" : ",8";
    const std::string body =
        R"({"inputs":[{"name":"pixels","shape":[1,64],"datatype":"FP32","data":)" + pixels + "]}]}";
    for (const std::string tier : {"edge", "cloud"}) {
      HttpResult r = client_->Post("/v1/functions/digits/invoke?tier=" + tier, body);
      EXPECT_EQ(r.status, 200) << tier << ": " << r.body;
    }
    EXPECT_TRUE(gateway_->Running());
    EXPECT_TRUE(executor_->Running());
  }

  int64_t Hwm(const Process& p) { return ProcStatusKiB(p.pid(), "VmHWM"); }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<v1::Executor::Stub> stub_;
};

TEST_F(WasmLimitsTest, TheLocalsBombIsRefusedAtOnceOnRestAndGrpc) {
  Start({});
  const std::string bomb = Module(1, 3'000'000);
  ASSERT_EQ(bomb.size(), 55u);
  const int64_t gateway_before = Hwm(*gateway_), executor_before = Hwm(*executor_);
  const auto start = Clock::now();
  HttpResult r = Register("bomb", R"({"name":"bomb","runtime":"wasm"})", bomb);
  EXPECT_LT(Seconds(start), 5.0);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("function 0 declares 3000000 locals; the limit is 50000 locals "
                                "per function (wasm locals limit)"));
  EXPECT_EQ(client_->Get("/v1/functions/bomb").status, 404);

  const auto grpc_start = Clock::now();
  grpc::Status s = Load("bomb", bomb);
  EXPECT_LT(Seconds(grpc_start), 5.0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("(wasm locals limit)"));

  EXPECT_LT(Hwm(*gateway_) - gateway_before, 32 << 10);  // KiB
  EXPECT_LT(Hwm(*executor_) - executor_before, 32 << 10);
  ExpectServing();
}

TEST_F(WasmLimitsTest, ModulesOverTheSizeAndFunctionLimitsAreRefused) {
  Start({"--wasm-max-module-bytes", "100000", "--wasm-max-functions", "1000"});
  const int64_t gateway_before = Hwm(*gateway_);
  struct Case {
    std::string module;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Module(1, 0, 200'000), "bytes; the limit is 100000 bytes (wasm module size limit)"},
      {Module(1001, 0),
       "module declares 1001 functions; the limit is 1000 functions (wasm function count limit)"},
  };
  for (const Case& c : cases) {
    const auto start = Clock::now();
    HttpResult r = Register("big", R"({"name":"big","runtime":"wasm"})", c.module);
    EXPECT_LT(Seconds(start), 5.0);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_THAT(r.body, HasSubstr(c.message));
    grpc::Status s = Load("big", c.module);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
  }
  EXPECT_EQ(client_->Get("/v1/functions/big").status, 404);
  EXPECT_LT(Hwm(*gateway_) - gateway_before, 32 << 10);
  ExpectServing();
}

// With the locals limit raised the bomb reaches wasm2c and cc; the sandbox
// stops it at its time or memory limit, and a small module registered
// meanwhile does not wait for it.
// With --wasm-engine aot the compile happens inside the registration, which
// the sandbox's verdict then refuses.
TEST_F(WasmLimitsTest, TheSandboxStopsACompileBombWithoutHoldingUpOthers) {
  Start({"--wasm-max-locals", "5000000", "--wasm-max-total-locals", "5000000",
         "--wasm-compile-timeout-s", "30", "--wasm-engine", "aot"});
  const int64_t gateway_before = Hwm(*gateway_);
  const auto start = Clock::now();
  std::future<HttpResult> bomb = std::async(std::launch::async, [&] {
    HttpClient client(gateway_->address());
    return Register("bomb", R"({"name":"bomb","runtime":"wasm"})", Module(1, 3'000'000), &client);
  });
  // The bomb compiles first: wait for the gateway's wasm2c child (a
  // thread's children are listed under that thread's task).
  auto compiling = [&] {
    const std::string tasks = "/proc/" + std::to_string(gateway_->pid()) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
      std::ifstream in(task.path() / "children");
      std::string pids;
      if (std::getline(in, pids) && !pids.empty()) return true;
    }
    return false;
  };
  for (int i = 0; i < 400 && !compiling(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(compiling()) << "the bomb never reached the compiler";
  HttpResult other = Register("small", R"({"name":"small","runtime":"wasm"})", Module(2, 3));
  const double other_s = Seconds(start);
  EXPECT_EQ(other.status, 201) << other.body;
  HttpResult refused = bomb.get();
  const double bomb_s = Seconds(start);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_THAT(refused.body, HasSubstr("wasm AOT compile of 'bomb' exceeded its "));
  EXPECT_THAT(refused.body, ::testing::ContainsRegex("\\(wasm compile (time|memory|CPU) limit\\)"));
  EXPECT_LT(bomb_s, 30.0 + 15.0);  // the time limit, and slack for a loaded machine
  EXPECT_LT(other_s, bomb_s) << "the small module waited for the bomb";
  EXPECT_EQ(client_->Get("/v1/functions/bomb").status, 404);
  EXPECT_LT(Hwm(*gateway_) - gateway_before, 64 << 10);  // the compiler's memory is not ours
  EXPECT_EQ(client_->Post("/v1/functions/small/invoke?tier=edge", "").status, 200);
  ExpectServing();
}

// With the default engine (auto, tiered) the registration is answered
// before the compile: the bomb is registered, served by the interpreter, and
// its background compile is stopped by the same sandbox, while the process
// keeps serving and its memory stays its own.
TEST_F(WasmLimitsTest, TieredCompileOfABombIsStoppedInTheBackground) {
  Start({"--wasm-max-locals", "5000000", "--wasm-max-total-locals", "5000000",
         "--wasm-compile-timeout-s", "20"});
  const int64_t gateway_before = Hwm(*gateway_);
  auto compiling = [&](const Process& p) {
    const std::string tasks = "/proc/" + std::to_string(p.pid()) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
      std::ifstream in(task.path() / "children");
      std::string pids;
      if (std::getline(in, pids) && !pids.empty()) return true;
    }
    return false;
  };
  HttpResult bomb = Register("bomb", R"({"name":"bomb","runtime":"wasm"})", Module(1, 3'000'000));
  EXPECT_EQ(bomb.status, 201) << bomb.body;
  // Answered before the gateway's compile (wasm2c or cc) is over: it runs
  // after the answer (its thread may fork the tool a moment later).
  const auto answered = Clock::now();
  bool compile_seen = compiling(*gateway_);
  while (!compile_seen && Seconds(answered) < 10.0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    compile_seen = compiling(*gateway_);
  }
  EXPECT_TRUE(compile_seen) << "the registration waited for the compiler";
  HttpResult other = Register("small", R"({"name":"small","runtime":"wasm"})", Module(2, 3));
  EXPECT_EQ(other.status, 201) << other.body;
  EXPECT_EQ(client_->Post("/v1/functions/small/invoke?tier=edge", "").status, 200);
  const auto start = Clock::now();
  while ((compiling(*gateway_) || compiling(*executor_)) && Seconds(start) < 20.0 + 30.0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(compiling(*gateway_)) << "the sandbox did not stop the compile";
  EXPECT_FALSE(compiling(*executor_)) << "the sandbox did not stop the compile";
  EXPECT_EQ(client_->Get("/v1/functions/bomb").status, 200);
  EXPECT_LT(Hwm(*gateway_) - gateway_before, 64 << 10);  // the compiler's memory is not ours
  EXPECT_EQ(client_->Post("/v1/functions/small/invoke?tier=cloud", "").status, 200);
  ExpectServing();
}

// Timed against the compiled code: --wasm-engine aot, so no call runs on the
// interpreter while the compile is in the background.
TEST_F(WasmLimitsTest, MallocPastTheCapGetsNullAtOnceOnBothTiers) {
  Start({"--wasm-engine", "aot"});
  ASSERT_EQ(
      Register("mloop",
               R"({"name":"mloop","runtime":"wasm","limits":{"memory_mb":16,"timeout_ms":20000}})",
               WasmExample("malloc_loop"))
          .status,
      201);
  for (const std::string tier : {"edge", "cloud"}) {
    for (const std::string block : {"65536", "16"}) {
      const int64_t before = Hwm(tier == "edge" ? *gateway_ : *executor_);
      const auto start = Clock::now();
      HttpResult r = client_->Post("/v1/functions/mloop/invoke?tier=" + tier, block, "text/plain");
      EXPECT_LT(Seconds(start), 10.0) << tier;  // the deadline is 20 s
      EXPECT_EQ(r.status, 500) << tier << ": " << r.body;
      EXPECT_THAT(r.body, HasSubstr("function exited with status 1 (linear memory is near its "
                                    "limit: "));
      EXPECT_THAT(r.body, HasSubstr("of 16 MiB; memory.grow beyond it fails)"));
      EXPECT_THAT(r.body, HasSubstr("malloc returned NULL after "));
      EXPECT_LT(Hwm(tier == "edge" ? *gateway_ : *executor_) - before, 48 << 10) << tier;
    }
  }
  ExpectServing();
}

}  // namespace
}  // namespace stoa::testing
