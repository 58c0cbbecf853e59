// stoa-sim: replays the scripted scenarios of scenarios.h through the real
// PlacementScheduler on a fake clock, and compares its placements with an
// oracle that knows every tier's actual latency for every request, and with
// the fixed policies.
//
//   stoa-sim [--scenario NAME|all] [--seed N] [--explore-budget X]
//            [--shadow-cap X] [--probe-interval-ms N] [--phases] [--trace-file FILE]
//
// --phases adds, per scenario with phases, the predictive policy's
// accuracy, regret and time-to-adapt per phase (phase_report.h), and where
// a target is a GPU (device cuda: gpu-flips) its predicted advantage
// against the actual one per phase.
// --trace-file records the predictive policy's decisions and outcomes
// (scheduler/decision_trace.h) for `stoa replay`; with several scenarios,
// the last one's.
//
// For every request each tier's latency is drawn once (same draws for every
// policy), so the policies face identical conditions. A decision is correct
// when its tier's actual warm latency (net + queue + exec, without the
// one-off cold start) was the lowest of all tiers for that request; regret
// is the difference in those latencies. The oracle always picks that tier
// and pays the cold start the first time, like every policy; the latency
// columns include cold starts.
// Requests are replayed one at a time: the gateway's own in-flight count is
// 0; the executor-reported queue depth is piggy-backed from the last
// response of that tier, as the dispatcher does. Like the gateway's
// background GetStatus probes, every --probe-interval-ms (default 500; 0:
// none) each networked tier's round trip for an empty request is drawn and
// fed to Scheduler::ObserveLink, and its queue depth replaces the one last
// piggy-backed.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/sim/phase_report.h"
#include "bench/sim/scenarios.h"
#include "common/clock.h"
#include "scheduler/decision_trace.h"
#include "scheduler/placement_scheduler.h"

namespace stoa::sim {
namespace {

using scheduler::AllTiers;
using scheduler::kNumTiers;
using scheduler::Tier;
using scheduler::TierIndex;

constexpr double kResponseKb = 1.0;

struct Request {
  double t_s = 0;
  double kb = 0;
  std::array<Realized, kNumTiers> warm{};
  std::array<double, kNumTiers> load_ms{};
  std::array<double, kNumTiers> queue_depth{};
};

// One background probe of the networked tiers (NaN for the in-process edge).
struct LinkProbe {
  double t_s = 0;
  std::array<double, kNumTiers> rtt_ms{};
  std::array<double, kNumTiers> queue_depth{};  // as GetStatus reports it
};

std::vector<LinkProbe> GenerateProbes(const Scenario& s, double interval_ms, uint64_t seed) {
  std::vector<LinkProbe> out;
  if (interval_ms <= 0) return out;
  std::mt19937_64 gen(seed ^ 0x9e3779b97f4a7c15ULL);
  for (double t = 0; t < s.duration_s; t += interval_ms / 1000.0) {
    LinkProbe p{t, {}};
    Conditions c = s.at(t);
    for (Tier tier : AllTiers()) {
      const TierConditions& tc = c.tier[TierIndex(tier)];
      p.queue_depth[TierIndex(tier)] = tc.queue_depth;
      p.rtt_ms[TierIndex(tier)] = tc.rtt_ms > 0 || tc.mbps > 0
                                      ? Realize(tc, 0.0, 0.05, true, gen).net_ms
                                      : std::numeric_limits<double>::quiet_NaN();
    }
    out.push_back(p);
  }
  return out;
}

std::vector<Request> Generate(const Scenario& s, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<Request> out;
  const int n = static_cast<int>(s.duration_s * s.rate_per_s);
  for (int i = 0; i < n; ++i) {
    Request r;
    r.t_s = i / s.rate_per_s;
    r.kb = s.small_only ? DrawSmallKb(gen) : DrawRequestKb(gen);
    Conditions c = s.at(r.t_s);
    for (Tier t : AllTiers()) {
      const TierConditions& tc = c.tier[TierIndex(t)];
      r.warm[TierIndex(t)] = Realize(tc, r.kb, kResponseKb, true, gen);
      r.load_ms[TierIndex(t)] = Realize(tc, r.kb, kResponseKb, false, gen).load_ms;
      r.queue_depth[TierIndex(t)] = tc.queue_depth;
    }
    out.push_back(r);
  }
  return out;
}

// A GPU target's advantage for one request: the fastest other target's
// latency minus the GPU's (> 0: the GPU is faster), as the scheduler
// predicted it when it decided and as the request's draws had it.
struct GpuAdvantage {
  double t_s = 0;
  double predicted_ms = 0;
  double actual_ms = 0;
};

struct Result {
  std::string policy;
  double accuracy = 0, mean_regret_ms = 0, mean_ms = 0, p50_ms = 0, p95_ms = 0;
  std::array<int, kNumTiers> placed{};
  std::vector<Scored> scored;
  std::vector<GpuAdvantage> gpu;  // the predictive policy's, with a cuda target
  int shadows = 0, hedges = 0;
};

// The first cuda target of the installed table, if any.
std::optional<Tier> GpuTarget() {
  for (Tier t : AllTiers()) {
    if (scheduler::Targets().at(t).device == scheduler::DeviceClass::kCuda) return t;
  }
  return std::nullopt;
}

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(q * v.size()));
  return v[std::clamp<size_t>(i, 1, v.size()) - 1];
}

// policy == nullopt: the oracle.
Result Run(const std::vector<Request>& requests, const std::vector<LinkProbe>& probes,
           std::optional<scheduler::PolicyKind> policy, double explore_budget, double shadow_cap,
           uint64_t seed, scheduler::DecisionTrace* trace = nullptr) {
  common::FakeClock clock;
  scheduler::PolicyConfig config;
  if (policy) config.policy = *policy;
  config.explore_budget = explore_budget;
  config.shadow_cap = shadow_cap;
  scheduler::SchedulerOptions options;
  options.in_process.Add(Tier::kEdge);
  options.trace = trace;
  scheduler::PlacementScheduler sched(clock, nullptr, seed, config, options);

  Result res;
  res.policy = policy ? std::string(scheduler::PolicyKindName(*policy)) : "oracle";
  std::array<bool, kNumTiers> loaded{};
  std::array<uint32_t, kNumTiers> reported_depth{};
  std::vector<double> latencies;
  // The predictive policy records the GPU target's predicted advantage.
  const std::optional<Tier> gpu_target = GpuTarget();
  const bool record_gpu = gpu_target.has_value() && policy == scheduler::PolicyKind::kPredictive;
  const Tier gpu = gpu_target.value_or(Tier::kEdge);
  int correct = 0;
  double regret = 0;
  size_t next_probe = 0;
  for (const Request& r : requests) {
    for (; next_probe < probes.size() && probes[next_probe].t_s <= r.t_s; ++next_probe) {
      const LinkProbe& p = probes[next_probe];
      clock.SetMicros(static_cast<int64_t>(p.t_s * 1e6));
      for (Tier t : AllTiers()) {
        if (!std::isfinite(p.rtt_ms[TierIndex(t)])) continue;
        sched.ObserveLink(t, true, p.rtt_ms[TierIndex(t)]);
        reported_depth[TierIndex(t)] = static_cast<uint32_t>(p.queue_depth[TierIndex(t)]);
      }
    }
    clock.SetMicros(static_cast<int64_t>(r.t_s * 1e6));
    std::array<double, kNumTiers> actual{};
    double best = std::numeric_limits<double>::infinity();
    Tier best_tier = Tier::kEdge;
    for (Tier t : AllTiers()) {
      int i = TierIndex(t);
      actual[i] = r.warm[i].Total();
      if (actual[i] < best) {
        best = actual[i];
        best_tier = t;
      }
    }
    scheduler::Decision decision(best_tier, scheduler::Reason::kForced);
    if (policy) {
      scheduler::Features f;
      f.request_bytes = static_cast<uint64_t>(r.kb * 1000);
      for (Tier t : AllTiers()) {
        if (loaded[TierIndex(t)]) f.warm.Add(t);
        f.queue_depth[TierIndex(t)] = reported_depth[TierIndex(t)];
      }
      auto d = sched.Decide("f", scheduler::TierSet::All(), f);
      if (!d.ok()) {
        std::fprintf(stderr, "decide: %s\n", std::string(d.status().message()).c_str());
        std::exit(1);
      }
      decision = *d;
      // The GPU's predicted advantage, from the models Decide just used
      // (PredictMs: 0 for a target not measured yet, then not counted).
      if (record_gpu) {
        const double gpu_predicted = sched.PredictMs("f", gpu, f);
        double other_predicted = std::numeric_limits<double>::infinity();
        double other_actual = std::numeric_limits<double>::infinity();
        bool measured = gpu_predicted > 0;
        for (Tier t : AllTiers()) {
          if (t == gpu) continue;
          const double p = sched.PredictMs("f", t, f);
          measured = measured && p > 0;
          other_predicted = std::min(other_predicted, p);
          other_actual = std::min(other_actual, actual[TierIndex(t)]);
        }
        if (measured) {
          res.gpu.push_back(
              {r.t_s, other_predicted - gpu_predicted, other_actual - actual[TierIndex(gpu)]});
        }
      }
    }
    const int c = TierIndex(decision.tier);
    auto observe = [&](Tier t, const scheduler::Decision& d, bool shadow) {
      const int i = TierIndex(t);
      scheduler::Outcome o;
      o.tier = t;
      o.load_ms = loaded[i] ? 0.0 : r.load_ms[i];
      o.queue_ms = r.warm[i].queue_ms;
      o.exec_ms = r.warm[i].exec_ms;
      o.server_ms = o.queue_ms + o.load_ms + o.exec_ms;
      o.latency_ms = actual[i] + o.load_ms;
      o.request_bytes = static_cast<uint64_t>(r.kb * 1000);
      o.response_bytes = static_cast<uint64_t>(kResponseKb * 1000);
      o.ahead = reported_depth[i];
      o.shadow = shadow;
      sched.Observe("f", d, o);
      loaded[i] = true;
      reported_depth[i] = static_cast<uint32_t>(r.queue_depth[i]);
      return o.latency_ms;
    };
    // A hedge answers with the first of its two runs; the loser is
    // cancelled and never observed, unless it is an evidence hedge
    // (Decision::keep_hedge), whose runs all complete.
    Tier answered = decision.tier;
    for (Tier t : AllTiers()) {
      if (decision.hedge.Contains(t) && actual[TierIndex(t)] < actual[TierIndex(answered)]) {
        answered = t;
      }
    }
    res.hedges += !decision.hedge.Empty();
    const double latency = observe(answered, scheduler::RunDecision(decision, answered), false);
    std::array<double, kNumTiers> compared;
    compared.fill(std::numeric_limits<double>::quiet_NaN());
    compared[TierIndex(answered)] = actual[TierIndex(answered)];
    for (Tier t : AllTiers()) {
      if (!decision.keep_hedge || t == answered ||
          (t != decision.tier && !decision.hedge.Contains(t))) {
        continue;
      }
      observe(t, scheduler::RunDecision(decision, t), false);
      compared[TierIndex(t)] = actual[TierIndex(t)];
    }
    for (Tier t : AllTiers()) {
      if (!decision.shadow.Contains(t)) continue;
      observe(t, scheduler::RunDecision(decision, t), true);
      compared[TierIndex(t)] = actual[TierIndex(t)];
      ++res.shadows;
    }
    if (!decision.shadow.Empty() || decision.keep_hedge) {
      sched.ObserveComparison("f", decision.tier, compared);
    }
    const int a = TierIndex(answered);
    correct += actual[a] <= best;
    regret += actual[a] - best;
    latencies.push_back(latency);
    res.placed[c]++;
    res.scored.push_back({r.t_s, actual[a] <= best, actual[a], best});
  }
  const double n = static_cast<double>(requests.size());
  res.accuracy = correct / n;
  res.mean_regret_ms = regret / n;
  double sum = 0;
  for (double v : latencies) sum += v;
  res.mean_ms = sum / n;
  res.p50_ms = Quantile(latencies, 0.5);
  res.p95_ms = Quantile(latencies, 0.95);
  return res;
}

void PrintPhases(const Scenario& s, const Result& r) {
  std::vector<PhaseScore> phases = ScorePhases(r.scored, s.phases);
  std::printf(
      "\n%s per phase (%d shadow runs, %d hedged):\n\n| phase | requests | accuracy | regret | "
      "time-to-adapt |\n|---|---|---|---|---|\n",
      r.policy.c_str(), r.shadows, r.hedges);
  phases.push_back(ScoreTotal(phases, r.scored));
  for (const PhaseScore& p : phases) {
    std::printf("| %s [%.0f s) | %d | %.1f %% | %+.1f %% | %.2f s / %d req |\n", p.name.c_str(),
                p.start_s, p.requests, 100 * p.accuracy, p.regret_pct, p.adapt_s, p.adapt_requests);
  }
  if (r.gpu.empty()) return;
  // Per phase: the GPU target's advantage over the fastest other target,
  // predicted (at each decision) against actual (the request's draws), and
  // how often the prediction had its sign right.
  const std::optional<Tier> gpu = GpuTarget();
  std::printf(
      "\n%s: the %s target's advantage over the fastest other target (ms, > 0: the GPU "
      "faster), per phase:\n\n| phase | requests | predicted mean | actual mean | predicted - "
      "actual | sign right |\n|---|---|---|---|---|---|\n",
      r.policy.c_str(), std::string(scheduler::TierName(*gpu)).c_str());
  for (size_t i = 0; i < s.phases.size(); ++i) {
    const double start = s.phases[i].first;
    const double end =
        i + 1 < s.phases.size() ? s.phases[i + 1].first : std::numeric_limits<double>::infinity();
    int n = 0, sign_right = 0;
    double predicted = 0, actual = 0;
    for (const GpuAdvantage& g : r.gpu) {
      if (g.t_s < start || g.t_s >= end) continue;
      ++n;
      predicted += g.predicted_ms;
      actual += g.actual_ms;
      sign_right += (g.predicted_ms > 0) == (g.actual_ms > 0);
    }
    if (n == 0) continue;
    std::printf("| %s [%.0f s) | %d | %+.1f | %+.1f | %+.1f | %.1f %% |\n",
                s.phases[i].second.c_str(), start, n, predicted / n, actual / n,
                (predicted - actual) / n, 100.0 * sign_right / n);
  }
}

struct Args {
  std::string only = "all";
  uint64_t seed = 42;
  double explore_budget = 0.02;
  double shadow_cap = scheduler::PolicyConfig().shadow_cap;
  double probe_interval_ms = 500;
  bool phases = false;
  std::string trace_file;
};

bool ParseArgs(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "stoa-sim: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--scenario") {
      args.only = value();
    } else if (a == "--seed") {
      args.seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--explore-budget") {
      args.explore_budget = std::strtod(value().c_str(), nullptr);
    } else if (a == "--shadow-cap") {
      args.shadow_cap = std::strtod(value().c_str(), nullptr);
    } else if (a == "--probe-interval-ms") {
      args.probe_interval_ms = std::strtod(value().c_str(), nullptr);
    } else if (a == "--phases") {
      args.phases = true;
    } else if (a == "--trace-file") {
      args.trace_file = value();
    } else {
      std::fprintf(stderr,
                   "usage: stoa-sim [--scenario NAME|all] [--seed N] [--explore-budget X] "
                   "[--shadow-cap X] [--probe-interval-ms N] [--phases] [--trace-file FILE]\n");
      return false;
    }
  }
  return true;
}

int Main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) return 2;
  bool found = false;
  for (const Scenario& s : AllScenarios()) {
    if (args.only != "all" && args.only != s.name) continue;
    found = true;
    scheduler::InstallTargets(s.targets.empty() ? scheduler::TargetTable::Default()
                                                : *scheduler::TargetTable::Make(s.targets));
    std::string names;
    for (Tier t : AllTiers())
      absl::StrAppend(&names, names.empty() ? "" : "/", std::string(scheduler::TierName(t)));
    std::vector<Request> requests = Generate(s, args.seed);
    std::vector<LinkProbe> probes = GenerateProbes(s, args.probe_interval_ms, args.seed);
    std::printf("\n## %s: %s (%zu requests)\n\n", s.name.c_str(), s.description.c_str(),
                requests.size());
    std::printf(
        "| policy | accuracy | mean regret ms | mean ms | p50 ms | p95 ms | vs oracle "
        "(mean) | %s |\n|---|---|---|---|---|---|---|---|\n",
        names.c_str());
    std::unique_ptr<scheduler::DecisionTrace> trace;
    if (!args.trace_file.empty()) {
      auto opened = scheduler::DecisionTrace::Open(args.trace_file, 0);
      if (!opened.ok()) {
        std::fprintf(stderr, "stoa-sim: %s\n", std::string(opened.status().message()).c_str());
        return 1;
      }
      trace = std::move(*opened);
      scheduler::PolicyConfig recorded;
      recorded.explore_budget = args.explore_budget;
      recorded.shadow_cap = args.shadow_cap;
      trace->RecordStart(args.seed, scheduler::TierSet::Of(Tier::kEdge), 0, recorded);
    }
    Result oracle =
        Run(requests, probes, std::nullopt, args.explore_budget, args.shadow_cap, args.seed);
    Result predictive;
    for (std::optional<scheduler::PolicyKind> p :
         {std::optional<scheduler::PolicyKind>(), std::optional(scheduler::PolicyKind::kPredictive),
          std::optional(scheduler::PolicyKind::kEdgeOnly),
          std::optional(scheduler::PolicyKind::kCloudOnly),
          std::optional(scheduler::PolicyKind::kRoundRobin)}) {
      const bool is_predictive = p && *p == scheduler::PolicyKind::kPredictive;
      Result r = p ? Run(requests, probes, p, args.explore_budget, args.shadow_cap, args.seed,
                         is_predictive ? trace.get() : nullptr)
                   : oracle;
      if (is_predictive) predictive = r;
      std::string placed;
      for (Tier t : AllTiers()) {
        absl::StrAppend(&placed, placed.empty() ? "" : "/", r.placed[TierIndex(t)]);
      }
      std::printf("| %s | %.1f %% | %.1f | %.1f | %.1f | %.1f | %+.1f %% | %s |\n",
                  r.policy.c_str(), 100 * r.accuracy, r.mean_regret_ms, r.mean_ms, r.p50_ms,
                  r.p95_ms, 100 * (r.mean_ms / oracle.mean_ms - 1), placed.c_str());
    }
    if (args.phases && !s.phases.empty()) PrintPhases(s, predictive);
  }
  if (!found) {
    std::fprintf(stderr, "stoa-sim: unknown scenario '%s'\n", args.only.c_str());
    return 2;
  }
  return 0;
}

}  // namespace
}  // namespace stoa::sim

int main(int argc, char** argv) { return stoa::sim::Main(argc, argv); }
