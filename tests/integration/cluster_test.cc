// Issue 15 with real processes on loopback: etcd (Debian's etcd-server),
// two gateways sharing their registry through etcd (--registry,
// --artifact-store), executors announced through etcd (--announce). Skipped
// only when etcd is not installed.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "stoa/v1/executor.grpc.pb.h"
#include "tests/integration/cluster_fixtures.h"
#include "tests/integration/etcd_fixture.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Polls `done` every 5 ms for up to `timeout_ms`; the milliseconds it took,
// or -1 when it never held.
int64_t WaitMs(const std::function<bool()>& done, int timeout_ms) {
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::milliseconds(timeout_ms)) {
    if (done()) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

uint64_t Invocations(const std::string& executor) {
  auto stub =
      v1::Executor::NewStub(grpc::CreateChannel(executor, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::GetStatusResponse response;
  if (!stub->GetStatus(&context, v1::GetStatusRequest(), &response).ok()) return 0;
  return response.invocations();
}

class ClusterTest : public EtcdClusterTest {
 protected:
  std::unique_ptr<Process> StartExecutor(const std::string& target = "cloud") {
    return Process::Start(BinaryPath("stoa-executor"),
                          {"--listen", "127.0.0.1:0", "--threads", "1", "--announce", etcd_->url(),
                           "--target", target, "--announce-ttl-s", "2"});
  }
};

TEST_F(ClusterTest, TwoGatewaysThreeExecutorsThroughEtcd) {
  std::vector<std::unique_ptr<Process>> executors;
  for (int i = 0; i < 3; ++i) {
    executors.push_back(StartExecutor());
    ASSERT_NE(executors.back(), nullptr);
  }
  auto a = StartGateway();
  auto b = StartGateway();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  HttpClient ca(a->address());
  HttpClient cb(b->address());

  // Registered on A: visible and invocable on B.
  Multipart reg = Digits("digits");
  ASSERT_EQ(ca.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  const int64_t visible_ms =
      WaitMs([&] { return cb.Get("/v1/functions/digits").status == 200; }, 5000);
  ASSERT_GE(visible_ms, 0) << "B never saw the function registered on A";
  std::printf("registration visible on the other gateway after %lld ms\n",
              static_cast<long long>(visible_ms));
  HttpResult r = cb.Post("/v1/functions/digits/invoke", OneImage());
  ASSERT_EQ(r.status, 200) << r.body;
  // The same name registered again on B is refused: it exists in etcd.
  EXPECT_EQ(cb.Post("/v1/functions", reg.body, reg.content_type).status, 409);

  // An executor killed under load: no request fails.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::string first_failure;
  std::thread load([&] {
    HttpClient c(a->address());
    while (!stop) {
      HttpResult x = c.Post("/v1/functions/digits/invoke", OneImage());
      if (x.status == 200) {
        ++ok;
      } else if (failed++ == 0) {
        first_failure = std::to_string(x.status) + " " + x.body;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  executors[0]->Signal(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));  // past the lease TTL
  stop = true;
  load.join();
  EXPECT_EQ(failed.load(), 0) << "first failure: " << first_failure;
  EXPECT_GT(ok.load(), 10);
  EXPECT_EQ(etcd_->GetPrefix("/stoa/v1/members/cloud/" + executors[0]->address()), "")
      << "the killed executor's lease did not expire";

  // A new executor gets traffic.
  auto fresh = StartExecutor();
  ASSERT_NE(fresh, nullptr);
  const auto started = Clock::now();
  const int64_t traffic_ms = WaitMs(
      [&] {
        cb.Post("/v1/functions/digits/invoke", OneImage());
        return Invocations(fresh->address()) > 0;
      },
      10000);
  ASSERT_GE(traffic_ms, 0) << "the new executor never received a call";
  std::printf(
      "new executor served its first call %lld ms after it started\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));

  // Deleted on B: gone on A.
  Multipart other = Digits("other");
  ASSERT_EQ(cb.Post("/v1/functions", other.body, other.content_type).status, 201);
  ASSERT_GE(WaitMs([&] { return ca.Get("/v1/functions/other").status == 200; }, 5000), 0);
  ASSERT_EQ(ca.Post("/v1/functions/other/invoke", OneImage()).status, 200);
  ASSERT_EQ(cb.Delete("/v1/functions/other").status, 204);
  ASSERT_GE(WaitMs([&] { return ca.Get("/v1/functions/other").status == 404; }, 5000), 0);
  EXPECT_EQ(ca.Post("/v1/functions/other/invoke", OneImage()).status, 404);

  // One gateway killed: the other keeps serving the same functions.
  a->Signal(SIGKILL);
  for (int i = 0; i < 20; ++i) {
    HttpResult x = cb.Post("/v1/functions/digits/invoke", OneImage());
    ASSERT_EQ(x.status, 200) << x.body;
  }
}

TEST_F(ClusterTest, EtcdDownKeepsServingRefusesChangesAndCatchesUp) {
  auto executor = StartExecutor();
  ASSERT_NE(executor, nullptr);
  auto a = StartGateway();
  auto b = StartGateway();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  HttpClient ca(a->address());
  HttpClient cb(b->address());
  Multipart reg = Digits("digits");
  ASSERT_EQ(ca.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  ASSERT_GE(WaitMs([&] { return cb.Post("/v1/functions/digits/invoke", OneImage()).status == 200; },
                   5000),
            0);

  etcd_->Stop();
  for (auto* c : {&ca, &cb}) {
    HttpResult x = c->Post("/v1/functions/digits/invoke", OneImage());
    EXPECT_EQ(x.status, 200) << x.body;
    EXPECT_EQ(c->Get("/v1/functions/digits").status, 200);
  }
  Multipart later = Digits("later");
  HttpResult refused = cb.Post("/v1/functions", later.body, later.content_type);
  EXPECT_NE(ErrorMessage(refused, 503, "UNAVAILABLE").find("etcd"), std::string::npos)
      << refused.body;
  EXPECT_EQ(cb.Delete("/v1/functions/digits").status, 503);
  EXPECT_EQ(cb.Get("/v1/functions/later").status, 404);  // nothing half-stored

  ASSERT_TRUE(etcd_->Restart());
  const int64_t back_ms =
      WaitMs([&] { return cb.Post("/v1/functions", later.body, later.content_type).status == 201; },
             10000);
  ASSERT_GE(back_ms, 0) << "changes never worked again after etcd returned";
  ASSERT_GE(WaitMs([&] { return ca.Get("/v1/functions/later").status == 200; }, 5000), 0);
  HttpResult x = ca.Post("/v1/functions/later/invoke", OneImage());
  EXPECT_EQ(x.status, 200) << x.body;
}

TEST_F(ClusterTest, DnsTargetIsResolvedIntoThePool) {
  auto executor =
      Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0", "--threads", "1"});
  ASSERT_NE(executor, nullptr);
  auto gateway = Process::Start(
      BinaryPath("stoa-gateway"),
      {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("gw"), "--edge", "none", "--cloud",
       "dns:///localhost:" + std::to_string(executor->port()), "--dns-interval-ms", "200"});
  ASSERT_NE(gateway, nullptr);
  HttpClient c(gateway->address());
  Multipart reg = Digits("digits");
  ASSERT_EQ(c.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  ASSERT_GE(
      WaitMs([&] { return c.Post("/v1/functions/digits/invoke", OneImage()).status == 200; }, 5000),
      0);
  EXPECT_GT(Invocations(executor->address()), 0u);
}

TEST_F(ClusterTest, SigtermWithdrawsDrainsThenRevokes) {
  auto leaving = StartExecutor();
  auto staying = StartExecutor();
  ASSERT_NE(leaving, nullptr);
  ASSERT_NE(staying, nullptr);
  auto gateway = StartGateway();
  ASSERT_NE(gateway, nullptr);
  HttpClient c(gateway->address());
  Multipart reg = Digits("digits");
  ASSERT_EQ(c.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::atomic<int> ok{0};
  std::string first_failure;
  std::thread load([&] {
    HttpClient l(gateway->address());
    while (!stop) {
      HttpResult x = l.Post("/v1/functions/digits/invoke", OneImage());
      if (x.status == 200) {
        ++ok;
      } else if (failed++ == 0) {
        first_failure = std::to_string(x.status) + " " + x.body;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int status = leaving->Signal(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Withdrawn and its lease revoked at exit: gone at once, not after the TTL.
  EXPECT_EQ(etcd_->GetPrefix("/stoa/v1/members/cloud/" + leaving->address()), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  load.join();
  EXPECT_EQ(failed.load(), 0) << "first failure: " << first_failure;
  EXPECT_GT(ok.load(), 10);
}

// Announced members feed every declared target, not only 'cloud': `cpu`
// and `gpu` are declared with no address (`NAME=TIER:DEVICE:`) and served
// only by the executors announced for them; an executor announced for an
// undeclared target is ignored.
TEST_F(ClusterTest, AnnouncementsFeedEveryDeclaredTarget) {
  auto cpu = StartExecutor("cpu");
  auto gpu = StartExecutor("gpu");
  auto stray = StartExecutor("undeclared");
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(gpu, nullptr);
  ASSERT_NE(stray, nullptr);
  auto gateway =
      Process::Start(BinaryPath("stoa-gateway"),
                     {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("gw"), "--edge", "none",
                      "--registry", etcd_->url(), "--artifact-store", store_, "--target",
                      "cpu=cloud:cpu:", "--target", "gpu=cloud:cuda:"});
  ASSERT_NE(gateway, nullptr);
  HttpClient c(gateway->address());
  Multipart reg = Digits("digits");
  ASSERT_EQ(c.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  for (const auto& [target, executor] :
       {std::pair{std::string("cpu"), cpu.get()}, std::pair{std::string("gpu"), gpu.get()}}) {
    const uint64_t before = Invocations(executor->address());
    HttpResult r = c.Post("/v1/functions/digits/invoke?target=" + target, OneImage());
    ASSERT_EQ(r.status, 200) << target << ": " << r.body;
    EXPECT_EQ(r.Header("x-stoa-target"), target);
    EXPECT_EQ(Invocations(executor->address()), before + 1) << target;
  }
  EXPECT_EQ(Invocations(stray->address()), 0u);

  // gpu's only member leaves (SIGTERM withdraws it): the target has none;
  // a new one joins within the membership latency and serves.
  gpu->Signal(SIGTERM);
  ASSERT_GE(WaitMs(
                [&] {
                  return c.Post("/v1/functions/digits/invoke?target=gpu", OneImage()).status != 200;
                },
                5000),
            0);
  EXPECT_EQ(c.Post("/v1/functions/digits/invoke?target=cpu", OneImage()).status, 200);
  auto gpu2 = StartExecutor("gpu");
  ASSERT_NE(gpu2, nullptr);
  const int64_t joined_ms = WaitMs(
      [&] { return c.Post("/v1/functions/digits/invoke?target=gpu", OneImage()).status == 200; },
      5000);
  ASSERT_GE(joined_ms, 0) << "the new gpu member never served";
  EXPECT_GT(Invocations(gpu2->address()), 0u);
  std::printf("a new member of target gpu served %lld ms after its process was up\n",
              static_cast<long long>(joined_ms));
}

}  // namespace
}  // namespace stoa::testing
