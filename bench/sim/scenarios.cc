#include "bench/sim/scenarios.h"

#include <algorithm>
#include <cmath>

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
  };
  return kScenarios;
}

double DrawRequestKb(std::mt19937_64& gen) {
  std::uniform_real_distribution<double> u(0, 1);
  if (u(gen) < 0.8) return 2 + 6 * u(gen);
  return 100 + 100 * u(gen);
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
