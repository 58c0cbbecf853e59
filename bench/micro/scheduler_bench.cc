// Hot-path cost of the PlacementScheduler with the predictive policy:
// Decide alone, and Decide + Observe, over 1 or 1000 functions, on 1..4
// threads sharing one scheduler (as gateway threads do). Outcomes carry the
// executor-reported breakdown, so every term learns (net and queue RLS,
// exec Huber refits every few observations); the edge is in-process.
//
//   build/<preset>/bin/stoa-bench-scheduler [--benchmark_filter=...]
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {
namespace {

// Edge: 8 ms of exec; cloud: 3 ms exec + 1 ms queue + 8 ms of network.
Outcome MakeOutcome(Tier tier, size_t i) {
  Outcome o;
  o.tier = tier;
  o.request_bytes = 4000;
  o.response_bytes = 200;
  o.ahead = 1 + (i & 1);
  o.exec_ms = tier == Tier::kEdge ? 8.0 + (i & 3) : 3.0 - 0.5 * (i & 3);
  o.queue_ms = tier == Tier::kEdge ? 0.0 : 1.0;
  o.server_ms = o.exec_ms + o.queue_ms;
  o.latency_ms = o.server_ms + (tier == Tier::kEdge ? 0.0 : 8.0);
  return o;
}

// One warmed-up scheduler per function count, shared by every thread and run.
struct Setup {
  explicit Setup(int functions)
      : scheduler(common::RealClock::Get(), &registry, 42, Policy(), Options()) {
    for (int i = 0; i < functions; ++i) names.push_back("function-" + std::to_string(i));
    for (const std::string& name : names) {
      for (Tier tier : AllTiers()) {
        Decision d{tier, Reason::kExplore, 0};
        scheduler.Observe(name, d, MakeOutcome(tier, 0));
      }
    }
    features.warm = TierSet::All();
    features.request_bytes = 4000;
    features.queue_depth = {1, 2};
  }
  static SchedulerOptions Options() {
    SchedulerOptions o;
    o.in_process.Add(Tier::kEdge);
    return o;
  }
  static PolicyConfig Policy() {
    PolicyConfig p;
    p.policy = PolicyKind::kPredictive;
    p.explore_budget = 0.02;
    return p;
  }

  common::metrics::Registry registry;
  PlacementScheduler scheduler;
  std::vector<std::string> names;
  Features features;
};

Setup& SetupFor(int functions) {
  static Setup one(1);
  static Setup thousand(1000);
  return functions == 1 ? one : thousand;
}

void BM_Decide(benchmark::State& state) {
  Setup& s = SetupFor(static_cast<int>(state.range(0)));
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    auto d = s.scheduler.Decide(s.names[i++ % s.names.size()], TierSet::All(), s.features);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_DecideObserve(benchmark::State& state) {
  Setup& s = SetupFor(static_cast<int>(state.range(0)));
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  Outcome o;
  for (auto _ : state) {
    const std::string& name = s.names[i++ % s.names.size()];
    auto d = s.scheduler.Decide(name, TierSet::All(), s.features);
    if (d.ok()) {
      o = MakeOutcome(d->tier, i);
      s.scheduler.Observe(name, *d, o);
    }
    benchmark::DoNotOptimize(o);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Decide)->ArgName("functions")->Arg(1)->Arg(1000)->Threads(1)->Threads(2)->Threads(4);
BENCHMARK(BM_DecideObserve)
    ->ArgName("functions")
    ->Arg(1)
    ->Arg(1000)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4);

}  // namespace
}  // namespace stoa::scheduler

BENCHMARK_MAIN();
