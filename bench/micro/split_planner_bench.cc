// The extra scheduling cost of split inference per request (docs/split.md):
// SplitPlanner::Decide over whole-edge, whole-cloud and N cuts, and one
// request's observations (prefix + suffix), on a warmed-up planner.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scheduler/split_planner.h"

namespace {

using stoa::scheduler::SplitCutInfo;
using stoa::scheduler::SplitPlanner;

std::vector<SplitCutInfo> Cuts(int n) {
  std::vector<SplitCutInfo> cuts;
  for (int i = 0; i < n; ++i) {
    cuts.push_back({.tensor = absl::StrCat("layer", i, "_out"),
                    .bytes = 50'000 >> (i / 2),
                    .prefix_cost = (i + 1.0) / (n + 1.0)});
  }
  return cuts;
}

void Warm(SplitPlanner& planner, const std::vector<SplitCutInfo>& cuts) {
  for (int r = 0; r < 4; ++r) {
    planner.ObserveWhole("cnn", "edge", 150, 0, 602'112, 10);
    planner.ObserveWhole("cnn", "cloud", 20, 60, 602'112, 10);
    for (const SplitCutInfo& c : cuts) {
      planner.ObservePrefix("cnn", c.tensor, 150 * c.prefix_cost, 1.0, c.bytes);
      planner.ObserveSuffix("cnn", c.tensor, "cloud", 20 * (1 - c.prefix_cost), 15, c.bytes, 10);
    }
  }
}

void BM_SplitDecide(benchmark::State& state) {
  SplitPlanner planner(
      {.weight = 0.3, .explore = 0.05, .default_rate_bytes_per_ms = 12'500, .seed = 1});
  const std::vector<SplitCutInfo> cuts = Cuts(static_cast<int>(state.range(0)));
  Warm(planner, cuts);
  for (auto _ : state) {
    benchmark::DoNotOptimize(planner.Decide("cnn", cuts, "cloud", 602'112, 10));
  }
}
BENCHMARK(BM_SplitDecide)->Arg(1)->Arg(9)->Arg(30);

// What a split request adds on the gateway besides Decide: the two
// observations (prefix, suffix with a link sample).
void BM_SplitObserve(benchmark::State& state) {
  SplitPlanner planner(
      {.weight = 0.3, .explore = 0.05, .default_rate_bytes_per_ms = 12'500, .seed = 1});
  const std::vector<SplitCutInfo> cuts = Cuts(9);
  Warm(planner, cuts);
  for (auto _ : state) {
    planner.ObservePrefix("cnn", cuts[0].tensor, 5.0, 1.0, 50'000);
    planner.ObserveSuffix("cnn", cuts[0].tensor, "cloud", 15.0, 40.0, 50'000, 10);
  }
}
BENCHMARK(BM_SplitObserve);

}  // namespace

BENCHMARK_MAIN();
