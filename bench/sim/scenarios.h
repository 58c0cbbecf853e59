// Scripted conditions of the edge–cloud continuum for stoa-sim: what each
// target (tier) would take for one request at one moment, term by term. A scenario
// is a function of time (the conditions) plus seeded noise; the simulator
// keeps the world state (which tier has the function loaded).
//
// Thread safety: none (single-threaded simulator).
#pragma once

#include <array>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/tier.h"

namespace stoa::sim {

// Conditions on one tier at one moment.
struct TierConditions {
  double rtt_ms = 0.0;        // 0 and mbps 0: in-process, no network
  double mbps = 0.0;          // link bandwidth, Mbit/s
  double exec_base_ms = 0.0;  // exec = base + per_kb · request kB
  double exec_per_kb_ms = 0.0;
  double queue_depth = 0.0;  // requests ahead in the executor's queue
  double service_ms = 10.0;  // per queued request
  double load_ms = 0.0;      // cold start when the function is not loaded
};

struct Conditions {
  std::array<TierConditions, scheduler::kNumTiers> tier;
};

struct Scenario {
  std::string name;
  std::string description;
  double duration_s = 300.0;
  double rate_per_s = 10.0;
  // Conditions at time t (seconds from the start).
  Conditions (*at)(double t) = nullptr;
  // Phases reported separately (start time, name), in order; the first
  // starts at 0. Empty: one phase, the whole run.
  std::vector<std::pair<double, std::string>> phases = {};
  // Payloads: false the 80/20 mix of DrawRequestKb, true small readings
  // only (2–8 kB), so one tier is the faster for every request of a phase.
  bool small_only = false;
  // The targets, in index order; empty: the default {edge, cloud}. The
  // simulator installs them (scheduler::InstallTargets) for the scenario.
  std::vector<scheduler::TargetInfo> targets = {};
};

const std::vector<Scenario>& AllScenarios();

// One request's payload, drawn from the scenario mix: 80 % small sensor
// readings (2–8 kB), 20 % camera frames (100–200 kB).
double DrawRequestKb(std::mt19937_64& gen);
// A small reading only: 2–8 kB.
double DrawSmallKb(std::mt19937_64& gen);

// What each term took on one tier, with noise: exec ×lognormal(σ 3 %),
// network ± normal jitter (σ 2 % of the RTT), load ×lognormal(σ 10 %).
struct Realized {
  double net_ms = 0, queue_ms = 0, load_ms = 0, exec_ms = 0;
  double Total() const { return net_ms + queue_ms + load_ms + exec_ms; }
};
Realized Realize(const TierConditions& c, double request_kb, double response_kb, bool loaded,
                 std::mt19937_64& gen);

}  // namespace stoa::sim
