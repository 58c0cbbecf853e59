#include "tools/model/continuum_model.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tools/model/model_io.h"

namespace stoa::tools::model {
namespace {

const PlacementResult& Get(const ModelResult& r, const std::string& name) {
  for (const auto& p : r.placements) {
    if (p.placement == name) return p;
  }
  ADD_FAILURE() << "no placement " << name;
  return r.placements.front();
}

ModelInput Base() {
  ModelInput in;
  in.devices = 10;
  in.rate_per_s = 5;  // 50 req/s
  in.request_bytes = 1000;
  in.response_bytes = 200;
  in.endpoint = {150, 1};  // a slow device chip: load 0.75
  in.edge = {4, 0.5};      // 50 * 4 ms / 0.5 core = load 0.4
  in.cloud = {2, 4};       // 50 * 2 ms / 4 = 0.025
  in.edge_link = {10, 1000};
  in.cloud_link = {90, 7.21};
  return in;
}

TEST(ContinuumModelTest, LoadsAndFirstOrderLatency) {
  auto r = Evaluate(Base());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->arrival_rate_per_s, 50);
  const auto& edge = Get(*r, "edge");
  EXPECT_NEAR(edge.loads[1].load, 0.4, 1e-12);
  EXPECT_EQ(edge.bottleneck, Resource::kEdgeCompute);
  // 10 ms RTT + 1200 B at 1 Gbit/s + 4 ms / 0.5 core.
  EXPECT_NEAR(edge.first_order_ms, 10 + 1200 * 8 / 1e6 + 8, 1e-9);
  // One server at half speed: service 8 ms, rho 0.4, M/M/1 wait 8*0.4/0.6.
  EXPECT_NEAR(edge.compute_ms, 8 + 8 * 0.4 / 0.6, 1e-9);
  const auto& cloud = Get(*r, "cloud");
  // Cloud crosses only its own link: 90 ms RTT + 1200 B at 7.21 Mbit/s + 2 ms.
  EXPECT_NEAR(cloud.first_order_ms, 90 + 1200 * 8 / 7.21e3 + 2, 1e-9);
  EXPECT_EQ(r->best_placement, "edge");
  const auto& endpoint = Get(*r, "endpoint");
  EXPECT_NEAR(endpoint.loads[0].load, 5 * 0.150, 1e-12);
  EXPECT_EQ(endpoint.network_ms, 0);
}

TEST(ContinuumModelTest, BottleneckMovesWithTheLoad) {
  ModelInput in = Base();
  // A fat payload on the 4G link: 50 req/s * 16 kB * 8 = 6.4 Mbit/s of 7.21.
  in.request_bytes = 16000;
  auto r = Evaluate(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Get(*r, "cloud").bottleneck, Resource::kCloudNetwork);
  EXPECT_GT(Get(*r, "cloud").loads[0].load, 0.85);
  // More devices than the half-core edge can serve: edge saturates.
  in = Base();
  in.devices = 30;  // 150 req/s * 4 ms / 0.5 = 1.2
  r = Evaluate(in);
  ASSERT_TRUE(r.ok());
  const auto& edge = Get(*r, "edge");
  EXPECT_TRUE(edge.saturated);
  EXPECT_TRUE(std::isinf(edge.mean_latency_ms));
  EXPECT_EQ(r->best_placement, "cloud");
  // A slow endpoint chip is the endpoint's bottleneck and saturates at 1/proc.
  in = Base();
  in.endpoint = {250, 1};
  r = Evaluate(in);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(Get(*r, "endpoint").saturated);
}

TEST(ContinuumModelTest, QueueingGrowsLatencyTowardsSaturation) {
  ModelInput in = Base();
  double last = 0;
  for (int devices : {1, 5, 10, 15, 20, 24}) {
    in.devices = devices;
    auto r = Evaluate(in);
    ASSERT_TRUE(r.ok());
    const double edge = Get(*r, "edge").mean_latency_ms;
    EXPECT_GT(edge, last);
    last = edge;
  }
}

TEST(ContinuumModelTest, EndpointOnlyWhenDevicesCanRunTheFunction) {
  ModelInput in = Base();
  in.endpoint.proc_ms = 0;
  auto r = Evaluate(in);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->placements.size(), 2u);
  EXPECT_EQ(r->placements[0].placement, "edge");
  EXPECT_EQ(Evaluate(Base())->placements.size(), 3u);
}

TEST(ContinuumModelTest, FractionalQuotaAboveOneUsesSeveralServers) {
  // 2.5 cores = 3 servers each at 5/6 speed: capacity 2.5 / proc.
  EXPECT_NEAR(ComputeSojournMs({6, 2.5}, 0.0), 6 * 3 / 2.5, 1e-9);
  EXPECT_TRUE(std::isinf(ComputeSojournMs({10, 2.5}, 250.0)));
  EXPECT_FALSE(std::isinf(ComputeSojournMs({10, 2.5}, 249.0)));
}

TEST(ContinuumModelTest, ValidationNamesTheField) {
  ModelInput in = Base();
  in.edge.cores = 0;
  auto r = Evaluate(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("edge.cores"), std::string::npos);
  in = Base();
  in.cloud_link.rtt_ms = -1;
  EXPECT_NE(Evaluate(in).status().message().find("cloud_link.rtt_ms"), std::string::npos);
}

TEST(ModelIoTest, YamlOverlayAndErrors) {
  ModelInput in;
  ASSERT_TRUE(ApplyYaml("devices: 7\nrate: 2\nedge: {proc_ms: 3, cores: 0.25}\n"
                        "cloud_link: {rtt_ms: 300, rate_mbit: 2}\n",
                        in)
                  .ok());
  EXPECT_EQ(in.devices, 7);
  EXPECT_DOUBLE_EQ(in.edge.cores, 0.25);
  EXPECT_DOUBLE_EQ(in.cloud_link.rtt_ms, 300);
  EXPECT_DOUBLE_EQ(in.cloud.proc_ms, ModelInput{}.cloud.proc_ms);
  auto unknown = ApplyYaml("edge: {proc: 3}\n", in);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("edge.proc"), std::string::npos);
  auto type = ApplyYaml("rate: fast\n", in);
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.message().find("rate"), std::string::npos);
  EXPECT_FALSE(ApplyYaml("devices: [1\n", in).ok());
}

TEST(ModelIoTest, JsonAndTableCarryEveryPlacement) {
  ModelInput in = Base();
  in.devices = 30;
  auto r = Evaluate(in);
  ASSERT_TRUE(r.ok());
  const auto j = ToJson(in, *r);
  ASSERT_EQ(j["placements"].size(), 3u);
  EXPECT_EQ(j["placements"][1]["placement"], "edge");
  EXPECT_EQ(j["placements"][1]["mean_latency_ms"], "inf");
  EXPECT_EQ(j["placements"][1]["bottleneck"], "edge compute");
  const std::string table = ToTable(in, *r);
  EXPECT_NE(table.find("SATURATED"), std::string::npos);
  EXPECT_NE(table.find("best placement: cloud"), std::string::npos);
}

}  // namespace
}  // namespace stoa::tools::model
