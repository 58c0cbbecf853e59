// What the cluster tests (cluster_test.cc, cluster_store_test.cc) share: a
// fixture with a real etcd and a shared artifact store, the gateway they
// start, the digits model as a cloud-only function, and one image.
#pragma once

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/etcd_fixture.h"
#include "tests/integration/harness.h"

namespace stoa::testing {

// One digits request (KServe JSON, 64 pixels).
inline std::string OneImage() {
  nlohmann::json data = nlohmann::json::array();
  for (int i = 0; i < 64; ++i) data.push_back(i % 17);
  nlohmann::json body;
  body["inputs"] = nlohmann::json::array(
      {{{"name", "pixels"}, {"shape", {1, 64}}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

// The registration of the digits model as `name`, cloud only.
inline Multipart Digits(const std::string& name) {
  return MakeRegistration(
      R"({"name":")" + name +
          R"(","runtime":"onnx","tiers":["cloud"],"limits":{"timeout_ms":5000}})",
      ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx")));
}

// A test with its own etcd and artifact store (skipped without etcd).
class EtcdClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Etcd::Available()) GTEST_SKIP() << "etcd is not installed (deploy/setup-deps.sh)";
    etcd_ = Etcd::Start();
    ASSERT_NE(etcd_, nullptr);
    store_ = MakeTempDir("artifacts");
  }

  // A gateway with no edge, its registry in etcd and the shared store.
  std::unique_ptr<Process> StartGateway() {
    return Process::Start(BinaryPath("stoa-gateway"),
                          {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("gw"), "--edge",
                           "none", "--registry", etcd_->url(), "--artifact-store", store_});
  }

  std::unique_ptr<Etcd> etcd_;
  std::string store_;
};

}  // namespace stoa::testing
