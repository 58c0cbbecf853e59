// Issue 15, artifact distribution: executors load artifacts by path from the
// shared content-addressed store (`--artifact-store` on both sides) instead
// of receiving the bytes over gRPC; a store that lacks the file or holds a
// corrupted one, or an executor without a store, falls back to the bytes.
// Real processes on loopback: etcd, a gateway with --registry, announced
// executors. The executor's stoa_executor_store_loads_total shows which way
// each load went. Skipped only when etcd is not installed.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/cluster_fixtures.h"
#include "tests/integration/etcd_fixture.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class ClusterStoreTest : public EtcdClusterTest {
 protected:
  // An announced executor; `store` "" runs it without --artifact-store.
  std::unique_ptr<Process> StartExecutor(const std::string& store) {
    metrics_port_ = FreePort();
    std::vector<std::string> args = {
        "--listen",         "127.0.0.1:0",
        "--threads",        "1",
        "--announce",       etcd_->url(),
        "--target",         "cloud",
        "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_)};
    if (!store.empty()) {
      args.push_back("--artifact-store");
      args.push_back(store);
    }
    auto executor = Process::Start(BinaryPath("stoa-executor"), args);
    if (executor == nullptr) return executor;
    // The gateway started next lists the members once at start-up: wait for
    // this executor's announcement (its first lease grant) to be in etcd,
    // or the first invoke may find target cloud without members (503).
    const std::string key = "/stoa/v1/members/cloud/" + executor->address();
    for (int i = 0; i < 250 && etcd_->GetPrefix(key).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_FALSE(etcd_->GetPrefix(key).empty()) << "the executor never announced itself";
    return executor;
  }

  // stoa_executor_store_loads_total{outcome} of the last executor started.
  int StoreLoads(const std::string& outcome) {
    HttpClient metrics("127.0.0.1:" + std::to_string(metrics_port_));
    HttpResult r = metrics.Get("/metrics");
    EXPECT_EQ(r.status, 200);
    const std::string series =
        absl::StrCat("stoa_executor_store_loads_total{outcome=\"", outcome, "\"} ");
    const size_t at = r.body.find(series);
    return at == std::string::npos ? 0 : std::stoi(r.body.substr(at + series.size()));
  }

  // Registers `name` on `gateway` and invokes it once (the executor loads it).
  void RegisterAndInvoke(HttpClient& gateway, const std::string& name) {
    Multipart reg = Digits(name);
    ASSERT_EQ(gateway.Post("/v1/functions", reg.body, reg.content_type).status, 201);
    HttpResult r = gateway.Post("/v1/functions/" + name + "/invoke", OneImage());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // The one artifact in the shared store (every function here has the same bytes).
  std::string ArtifactKey() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(fs::path(store_) / "sha256")) {
      names.push_back(e.path().filename().string());
    }
    EXPECT_EQ(names.size(), 1u);
    return names.empty() ? "" : "sha256/" + names[0];
  }

  int metrics_port_ = 0;
};

TEST_F(ClusterStoreTest, ExecutorWithTheSharedStoreLoadsByKeyNotBytes) {
  auto executor = StartExecutor(store_);
  ASSERT_NE(executor, nullptr);
  auto gateway = StartGateway();
  ASSERT_NE(gateway, nullptr);
  HttpClient c(gateway->address());
  RegisterAndInvoke(c, "digits");
  RegisterAndInvoke(c, "digits-b");
  // Both loads named the store key and were served from the volume; none
  // was refused, so no artifact byte was sent (the fallback is the only
  // way bytes go out, and it follows a refusal).
  EXPECT_EQ(StoreLoads("ok"), 2);
  EXPECT_EQ(StoreLoads("refused"), 0);
  EXPECT_EQ(StoreLoads("no_store"), 0);
}

TEST_F(ClusterStoreTest, MissingOrCorruptedStoreFileFallsBackToTheBytes) {
  // The executor's store is its own directory, not the gateway's volume.
  const std::string own = MakeTempDir("executor-store");
  fs::create_directories(fs::path(own) / "sha256");
  auto executor = StartExecutor(own);
  ASSERT_NE(executor, nullptr);
  auto gateway = StartGateway();
  ASSERT_NE(gateway, nullptr);
  HttpClient c(gateway->address());

  RegisterAndInvoke(c, "missing");  // not in the executor's store: bytes sent
  EXPECT_EQ(StoreLoads("refused"), 1);
  EXPECT_EQ(StoreLoads("ok"), 0);

  const std::string key = ArtifactKey();
  ASSERT_FALSE(key.empty());
  std::ofstream(fs::path(own) / key, std::ios::binary) << "not the model";
  RegisterAndInvoke(c, "corrupted");  // digest differs there: bytes sent
  EXPECT_EQ(StoreLoads("refused"), 2);
  EXPECT_EQ(StoreLoads("ok"), 0);

  fs::remove(fs::path(own) / key);
  fs::copy_file(fs::path(store_) / key, fs::path(own) / key);
  RegisterAndInvoke(c, "intact");  // the right bytes there: loaded by key
  EXPECT_EQ(StoreLoads("ok"), 1);
  EXPECT_EQ(StoreLoads("refused"), 2);
}

TEST_F(ClusterStoreTest, ExecutorWithoutAStoreGetsTheBytesAndIsAskedOnce) {
  auto executor = StartExecutor("");
  ASSERT_NE(executor, nullptr);
  auto gateway = StartGateway();
  ASSERT_NE(gateway, nullptr);
  HttpClient c(gateway->address());
  RegisterAndInvoke(c, "first");
  RegisterAndInvoke(c, "second");
  // UNIMPLEMENTED once; the gateway sends the bytes from then on.
  EXPECT_EQ(StoreLoads("no_store"), 1);
  EXPECT_EQ(StoreLoads("ok"), 0);
}

}  // namespace
}  // namespace stoa::testing
