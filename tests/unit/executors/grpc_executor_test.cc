// A real gRPC round trip in one process: ExecutorService over an
// InProcessExecutor (with the fake runtime) on a loopback port or a Unix
// socket, and a GrpcExecutor talking to it.
#include "executors/grpc_executor.h"

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/sha256.h"
#include "executors/executor_service.h"
#include "executors/in_process_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_runtime.h"

namespace stoa::executors {
namespace {

using ::stoa::executors::testing::Await;
using ::stoa::executors::testing::ClosedLoopbackAddress;
using ::stoa::executors::testing::FakeLoadRequest;
using ::stoa::executors::testing::FakeRuntimes;
using ::stoa::executors::testing::FloatTensor;
using ::stoa::executors::testing::FloatValues;
using ::stoa::executors::testing::Later;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The fake runtime registers as "wasm": ExecutorService::LoadFunction lets
// through only the runtimes of functions/spec_rules.h.
constexpr char kRuntime[] = "wasm";

v1::InvokeRequest Request(const std::string& function, const std::string& sha,
                          const std::vector<float>& x, uint32_t timeout_ms = 0) {
  v1::InvokeRequest request;
  request.set_function(function);
  request.set_sha256(sha);
  *request.add_inputs() = FloatTensor("x", x);
  request.set_timeout_ms(timeout_ms);
  return request;
}

absl::StatusOr<v1::InvokeResponse> Invoke(Executor& ex, v1::InvokeRequest request) {
  return Await<v1::InvokeResponse>([&](auto done) { ex.Invoke(std::move(request), done); });
}

absl::StatusOr<v1::LoadFunctionResponse> Load(Executor& ex, v1::LoadFunctionRequest request) {
  return Await<v1::LoadFunctionResponse>(
      [&](auto done) { ex.LoadFunction(std::move(request), done); });
}

class GrpcExecutorTest : public ::testing::Test {
 protected:
  GrpcExecutorTest()
      : runtimes_(FakeRuntimes(&fake_, nullptr, kRuntime)),
        backend_(runtimes_, InProcessExecutor::Options{2, "cpu", "test cpu"}, nullptr),
        service_(&backend_) {}

  void StartServer(const std::string& listen) {
    auto server = GrpcServer::Start(listen, &service_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  testing::FakeRuntime* fake_ = nullptr;  // owned by runtimes_
  functions::RuntimeSet runtimes_;
  InProcessExecutor backend_;
  ExecutorService service_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_F(GrpcExecutorTest, LoadInvokeStatusOverTcp) {
  StartServer("127.0.0.1:0");
  ASSERT_GT(server_->port(), 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(server_->port()));
  GrpcExecutor client(server_->address());
  EXPECT_EQ(client.Describe(), "grpc:" + server_->address());

  auto missing = Invoke(client, Request("inc", common::Sha256Hex("plain"), {1.0f}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("is not loaded"));

  auto loaded = Load(client, FakeLoadRequest("inc", "plain", kRuntime));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->already_loaded());
  EXPECT_EQ(loaded->spec().sha256(), common::Sha256Hex("plain"));
  EXPECT_EQ(loaded->spec().outputs(0).name(), "y");
  auto again = Load(client, FakeLoadRequest("inc", "plain", kRuntime));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_loaded());

  const auto caller = std::this_thread::get_id();
  std::thread::id callback_thread;
  auto out = Await<v1::InvokeResponse>([&](auto done) {
    client.Invoke(Request("inc", loaded->spec().sha256(), {1.0f, 2.0f}, 1000),
                  [&, done](absl::StatusOr<v1::InvokeResponse> r) {
                    callback_thread = std::this_thread::get_id();
                    done(std::move(r));
                  });
  });
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(callback_thread, caller);
  EXPECT_THAT(FloatValues(out->outputs(0)), ElementsAre(2.0f, 3.0f));
  EXPECT_EQ(out->device(), "cpu");

  auto status = Await<v1::GetStatusResponse>([&](auto done) { client.GetStatus(done); });
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->device(), "cpu");
  EXPECT_EQ(status->device_name(), "test cpu");
  EXPECT_EQ(status->threads(), 2u);
  ASSERT_EQ(status->functions_size(), 1);
  EXPECT_EQ(status->functions(0).function(), "inc");
  EXPECT_EQ(status->functions(0).invocations(), 1u);

  v1::UnloadFunctionRequest unload;
  unload.set_function("inc");
  auto unloaded =
      Await<v1::UnloadFunctionResponse>([&](auto done) { client.UnloadFunction(unload, done); });
  ASSERT_TRUE(unloaded.ok());
  EXPECT_TRUE(unloaded->unloaded());
}

TEST_F(GrpcExecutorTest, ErrorsKeepTheirCodesAcrossTheWire) {
  StartServer("127.0.0.1:0");
  GrpcExecutor client(server_->address());
  auto bad = Load(client, FakeLoadRequest("inc", "bad", kRuntime));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("not a valid function"));

  auto slow = Load(client, FakeLoadRequest("slow", "sleep=2000", kRuntime));
  ASSERT_TRUE(slow.ok());
  const auto start = std::chrono::steady_clock::now();
  auto late = Invoke(client, Request("slow", slow->spec().sha256(), {1.0f}, 100));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(GrpcExecutorTest, RoundTripOverUnixSocket) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("stoa-exec-test-" + std::to_string(getpid())))
          .string();
  StartServer("unix:" + path);
  EXPECT_EQ(server_->address(), "unix:" + path);
  EXPECT_EQ(server_->port(), 0);
  GrpcExecutor client("unix:" + path);
  auto loaded = Load(client, FakeLoadRequest("inc", "plain", kRuntime));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto out = Invoke(client, Request("inc", loaded->spec().sha256(), {41.0f}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(FloatValues(out->outputs(0)), ElementsAre(42.0f));
  server_->Shutdown(100);
  std::filesystem::remove(path);
}

TEST_F(GrpcExecutorTest, UnreachableTargetIsUnavailableQuickly) {
  GrpcExecutor client(ClosedLoopbackAddress());
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto start = std::chrono::steady_clock::now();
    auto out = Invoke(client, Request("inc", "abc", {1.0f}, 30000));
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable) << out.status();
    EXPECT_THAT(std::string(out.status().message()), StartsWith("grpc:127.0.0.1:"));
    EXPECT_LT(took, std::chrono::seconds(3)) << "attempt " << attempt;
  }
  auto status = Await<v1::GetStatusResponse>([&](auto done) { client.GetStatus(done); });
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
}

TEST(GrpcExecutorBadTargetTest, MalformedTargetFailsInsteadOfHanging) {
  GrpcExecutor client("this is not a target:::");
  const auto start = std::chrono::steady_clock::now();
  auto out = Invoke(client, Request("inc", "abc", {1.0f}, 30000));
  EXPECT_FALSE(out.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(GrpcExecutorTest, ServerGoneMidCallFailsAndLaterCallsAreUnavailable) {
  StartServer("127.0.0.1:0");
  GrpcExecutor client(server_->address());
  auto slow = Load(client, FakeLoadRequest("slow", "plain", kRuntime));
  ASSERT_TRUE(slow.ok());
  fake_->gate().Hold();
  auto promise = std::make_shared<std::promise<absl::StatusOr<v1::InvokeResponse>>>();
  client.Invoke(
      Request("slow", slow->spec().sha256(), {1.0f}, 5000),
      [promise](absl::StatusOr<v1::InvokeResponse> r) { promise->set_value(std::move(r)); });
  fake_->gate().WaitUntilArrived(1);  // the call is running on the server
  std::thread release([this] { fake_->gate().Release(); });
  server_->Shutdown(/*grace_ms=*/0);
  release.join();
  auto future = promise->get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  // Shutdown cancels the call in flight or lets it finish; it never hangs.
  auto in_flight = future.get();
  if (!in_flight.ok()) {
    EXPECT_TRUE(absl::IsUnavailable(in_flight.status()) || absl::IsCancelled(in_flight.status()))
        << in_flight.status();
  }
  server_.reset();
  const auto start = std::chrono::steady_clock::now();
  auto after = Invoke(client, Request("slow", slow->spec().sha256(), {1.0f}, 5000));
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable) << after.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(GrpcExecutorTest, DestructorCancelsCallsInFlight) {
  StartServer("127.0.0.1:0");
  auto client = std::make_unique<GrpcExecutor>(server_->address());
  auto slow = Load(*client, FakeLoadRequest("slow", "plain", kRuntime));
  ASSERT_TRUE(slow.ok());
  fake_->gate().Hold();  // the server holds the call until the test says
  auto promise = std::make_shared<std::promise<absl::StatusOr<v1::InvokeResponse>>>();
  client->Invoke(
      Request("slow", slow->spec().sha256(), {1.0f}, 5000),
      [promise](absl::StatusOr<v1::InvokeResponse> r) { promise->set_value(std::move(r)); });
  fake_->gate().WaitUntilArrived(1);
  client.reset();  // returns with the call still held on the server: it cancelled it
  auto future = promise->get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(future.get().status().code(), absl::StatusCode::kCancelled);
  // The client side ends at once; the cancellation reaches the server over
  // the wire a moment later (nothing to wait on there), and "slow" must not
  // free the worker before it has.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  fake_->gate().Release();
}

TEST_F(GrpcExecutorTest, CancelReachesTheServerAndSkipsQueuedWork) {
  // One worker on the server: "slow" holds it while the cancelled call
  // waits in its queue.
  InProcessExecutor backend(runtimes_, InProcessExecutor::Options{1, "cpu", ""}, nullptr);
  ExecutorService service(&backend);
  auto server = GrpcServer::Start("127.0.0.1:0", &service);
  ASSERT_TRUE(server.ok()) << server.status();
  GrpcExecutor client((*server)->address());
  auto slow = Load(client, FakeLoadRequest("slow", "plain", kRuntime));
  auto fast = Load(client, FakeLoadRequest("fast", "plain", kRuntime));
  ASSERT_TRUE(slow.ok() && fast.ok());
  fake_->gate().Hold();
  auto slow_result = Later<v1::InvokeResponse>([&](auto done) {
    client.Invoke(Request("slow", slow->spec().sha256(), {1.0f}, 5000), done);
  });
  fake_->gate().WaitUntilArrived(1);  // "slow" holds the only worker
  auto cancel = std::make_shared<CancelSignal>();
  auto future = Later<v1::InvokeResponse>([&](auto done) {
    client.Invoke(Request("fast", fast->spec().sha256(), {1.0f}, 5000), done, cancel);
  });
  // Queued behind "slow" on the server, or not arrived yet: either way the
  // cancellation must keep it from running.
  const auto start = std::chrono::steady_clock::now();
  cancel->Cancel();
  ASSERT_EQ(future.wait_for(std::chrono::milliseconds(150)), std::future_status::ready)
      << "the client call did not end at once";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  EXPECT_EQ(future.get().status().code(), absl::StatusCode::kCancelled);
  // The client side ends at once; the cancellation reaches the server over
  // the wire a moment later (nothing to wait on there), and "slow" must not
  // free the worker before it has.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  fake_->gate().Release();
  ASSERT_TRUE(slow_result.get().ok());
  // The server dequeues the cancelled call after "slow" and skips it.
  absl::StatusOr<v1::GetStatusResponse> status;
  for (int i = 0; i < 50; ++i) {
    status = Await<v1::GetStatusResponse>([&](auto done) { client.GetStatus(done); });
    ASSERT_TRUE(status.ok());
    if (status->queue_depth() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status->invocations(), 1u);  // "fast" never ran
}

TEST(GrpcServerTest, BadAddressesAreRefused) {
  functions::RuntimeSet runtimes = FakeRuntimes();
  InProcessExecutor backend(runtimes, InProcessExecutor::Options{1, "cpu", ""}, nullptr);
  ExecutorService service(&backend);
  EXPECT_EQ(GrpcServer::Start("no-port", &service).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcServer::Start("127.0.0.1:99999", &service).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcServer::Start("unix:", &service).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = GrpcServer::Start("127.0.0.1:0", &service);
  ASSERT_TRUE(first.ok());
  ExecutorService other(&backend);
  auto taken = GrpcServer::Start((*first)->address(), &other);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace stoa::executors
