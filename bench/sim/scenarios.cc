#include "bench/sim/scenarios.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace stoa::sim {
namespace {

using scheduler::Tier;
using scheduler::TierIndex;

// The edge: an in-process CPU executor, slower per request and per kB than
// the cloud's accelerator, but no network. The cloud: 4G uplink (90 ms
// RTT, 7.21 Mbit/s).
Conditions Steady4g() {
  Conditions c;
  TierConditions& edge = c.tier[TierIndex(Tier::kEdge)];
  edge.exec_base_ms = 120;
  edge.exec_per_kb_ms = 0.8;
  edge.load_ms = 300;
  TierConditions& cloud = c.tier[TierIndex(Tier::kCloud)];
  cloud.rtt_ms = 90;
  cloud.mbps = 7.21;
  cloud.exec_base_ms = 10;
  cloud.exec_per_kb_ms = 0.05;
  cloud.load_ms = 1500;
  return c;
}

Conditions AtSteady(double) { return Steady4g(); }

Conditions AtLinkDegradation(double t) {
  Conditions c = Steady4g();
  if (t >= 100 && t < 200) {
    TierConditions& cloud = c.tier[TierIndex(Tier::kCloud)];
    cloud.rtt_ms = 400;
    cloud.mbps = 1.0;
  }
  return c;
}

Conditions AtCloudSaturation(double t) {
  Conditions c = Steady4g();
  if (t >= 100 && t < 200) {
    // Other tenants fill the cloud executor: 30 requests ahead, 10 ms each.
    c.tier[TierIndex(Tier::kCloud)].queue_depth = 30;
  }
  return c;
}

// The flip scenarios: a compute-heavy function (10 ms on a full core) with
// small payloads; every 15 s the faster tier changes.
constexpr double kFlipPhaseS = 15.0;
bool FlippedAt(double t) { return static_cast<int>(t / kFlipPhaseS) % 2 == 1; }

// The edge under a 25 % CPU quota (40 ms); the cloud (10 ms) a LAN away
// (2 ms round trip, 1 Gbit/s): the cloud is faster.
Conditions NearCloud() {
  Conditions c;
  TierConditions& edge = c.tier[TierIndex(Tier::kEdge)];
  edge.exec_base_ms = 40;
  edge.exec_per_kb_ms = 0.1;
  edge.load_ms = 300;
  TierConditions& cloud = c.tier[TierIndex(Tier::kCloud)];
  cloud.rtt_ms = 2;
  cloud.mbps = 1000;
  cloud.exec_base_ms = 10;
  cloud.exec_per_kb_ms = 0.02;
  cloud.load_ms = 500;
  return c;
}

// The cloud link's one-way delay goes 1 → 60 ms and back (RTT 2 ↔ 120 ms).
Conditions AtLinkFlips(double t) {
  Conditions c = NearCloud();
  if (FlippedAt(t)) c.tier[TierIndex(Tier::kCloud)].rtt_ms = 120;
  return c;
}

// Other tenants load the cloud executor: 6 requests of 10 ms ahead.
Conditions AtLoadFlips(double t) {
  Conditions c = NearCloud();
  if (FlippedAt(t)) c.tier[TierIndex(Tier::kCloud)].queue_depth = 6;
  return c;
}

// The edge's quota: a full core (8 ms, faster than the cloud 10 ms + 10 ms
// away) or 25 % (32 ms, slower). Nothing but an edge run shows it.
Conditions AtQuotaFlips(double t) {
  Conditions c = NearCloud();
  c.tier[TierIndex(Tier::kEdge)].exec_base_ms = FlippedAt(t) ? 32 : 8;
  c.tier[TierIndex(Tier::kCloud)].rtt_ms = 10;
  return c;
}

// The cloud executor slows down (another tenant takes its cores: exec
// 10 → 60 ms) and recovers, while the edge (40 ms) is the alternative.
Conditions AtCloudSlowFlips(double t) {
  Conditions c = NearCloud();
  if (FlippedAt(t)) c.tier[TierIndex(Tier::kCloud)].exec_base_ms = 60;
  return c;
}

// Three targets: the edge (40 ms), a cloud CPU pool (20 ms) and a cloud GPU
// (4 ms), both a LAN away; every other 15 s other tenants queue 10 requests
// (10 ms each) on the GPU, and the cloud CPU is the fastest.
Conditions AtGpuFlips(double t) {
  Conditions c = NearCloud();
  TierConditions& cpu = c.tier[1];
  cpu.exec_base_ms = 20;
  TierConditions& gpu = c.tier[2];
  gpu = cpu;
  gpu.exec_base_ms = 4;
  if (FlippedAt(t)) gpu.queue_depth = 10;
  return c;
}

std::vector<std::pair<double, std::string>> FlipPhases(const char* normal, const char* flipped) {
  std::vector<std::pair<double, std::string>> out;
  for (int i = 0; i < 8; ++i) {
    out.emplace_back(i * kFlipPhaseS, absl::StrCat(i % 2 ? flipped : normal, "-", i / 2 + 1));
  }
  return out;
}

}  // namespace

const std::vector<Scenario>& AllScenarios() {
  static const std::vector<Scenario> kScenarios = {
      {"steady-4g", "4G link (90 ms RTT, 7.21 Mbit/s), cloud faster per request", 300, 10,
       &AtSteady},
      {"link-degradation", "4G; RTT 400 ms and 1 Mbit/s from 100 s to 200 s, then recovery", 300,
       10, &AtLinkDegradation},
      {"cloud-saturation", "4G; 30 requests queued on the cloud from 100 s to 200 s", 300, 10,
       &AtCloudSaturation},
      {"cold-first-minute", "a fresh function, cold on both tiers (edge 300 ms, cloud 1.5 s load)",
       60, 10, &AtSteady},
      {"link-flips", "cloud one-way delay 1 ms <-> 60 ms every 15 s (edge 40 ms, cloud 10 ms)", 120,
       20, &AtLinkFlips, FlipPhases("lan", "far"), true},
      {"load-flips", "6 requests (60 ms) queued on the cloud every other 15 s", 120, 20,
       &AtLoadFlips, FlipPhases("idle", "loaded"), true},
      {"quota-flips", "edge quota full core (8 ms) <-> 25 % (32 ms) every 15 s; cloud 20 ms", 120,
       20, &AtQuotaFlips, FlipPhases("full", "quota"), true},
      {"cloud-slow-flips", "cloud exec 10 ms <-> 60 ms every 15 s (edge 40 ms)", 120, 20,
       &AtCloudSlowFlips, FlipPhases("fast", "slow"), true},
      {"gpu-flips",
       "3 targets: edge 40 ms, cloud-cpu 20 ms, cloud-gpu 4 ms <-> 104 ms (10 queued) every 15 s",
       120,
       20,
       &AtGpuFlips,
       FlipPhases("gpu-idle", "gpu-busy"),
       true,
       {{"edge", scheduler::TierClass::kEdge, scheduler::DeviceClass::kCpu},
        {"cloud-cpu", scheduler::TierClass::kCloud, scheduler::DeviceClass::kCpu},
        {"cloud-gpu", scheduler::TierClass::kCloud, scheduler::DeviceClass::kCuda}}},
  };
  return kScenarios;
}

double DrawRequestKb(std::mt19937_64& gen) {
  std::uniform_real_distribution<double> u(0, 1);
  if (u(gen) < 0.8) return 2 + 6 * u(gen);
  return 100 + 100 * u(gen);
}

double DrawSmallKb(std::mt19937_64& gen) {
  std::uniform_real_distribution<double> u(0, 1);
  return 2 + 6 * u(gen);
}

Realized Realize(const TierConditions& c, double request_kb, double response_kb, bool loaded,
                 std::mt19937_64& gen) {
  std::lognormal_distribution<double> exec_noise(0, 0.03);
  std::lognormal_distribution<double> load_noise(0, 0.10);
  std::normal_distribution<double> jitter(0, 1);
  Realized r;
  if (c.rtt_ms > 0 || c.mbps > 0) {
    double kbits = 8.0 * (request_kb + response_kb);
    r.net_ms = std::max(0.0, c.rtt_ms * (1 + 0.02 * jitter(gen)) + kbits / (c.mbps * 1000) * 1000);
  }
  r.exec_ms = (c.exec_base_ms + c.exec_per_kb_ms * request_kb) * exec_noise(gen);
  r.queue_ms = c.queue_depth * c.service_ms;
  if (!loaded) r.load_ms = c.load_ms * load_noise(gen);
  return r;
}

}  // namespace stoa::sim
