// Trace and replay end to end: a PlacementScheduler records a run whose
// best tier flips (with shadow samples), the trace is loaded back and
// replayed through two policies.
#include "scheduler/trace_replay.h"

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "common/clock.h"
#include "gtest/gtest.h"
#include "scheduler/decision_trace.h"
#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {
namespace {

namespace fs = std::filesystem;

// Removes a directory when the test process exits.
struct RemovedAtExit {
  fs::path dir;
  ~RemovedAtExit() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Records 1200 requests (100 a second): the cloud (10 ms + 2 ms away) beats
// the edge (30 ms) except from 4 s to 8 s, when the link is 60 ms.
std::string RecordRun(const std::string& name, const PolicyConfig& policy) {
  fs::path dir = fs::temp_directory_path() / ("stoa_replay_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  static RemovedAtExit remove_dir{dir};
  const std::string path = (dir / name).string();
  auto trace = DecisionTrace::Open(path, 0);
  EXPECT_TRUE(trace.ok());
  common::FakeClock clock;
  SchedulerOptions options;
  options.in_process.Add(Tier::kEdge);
  options.trace = trace->get();
  PlacementScheduler sched(clock, nullptr, 17, policy, options);
  (*trace)->RecordStart(17, options.in_process, 0, policy);
  std::mt19937_64 gen(4);
  std::lognormal_distribution<double> noise(0, 0.03);
  for (int i = 0; i < 1200; ++i) {
    const double rtt = i >= 400 && i < 800 ? 60.0 : 2.0;
    if (i % 50 == 0) sched.ObserveLink(Tier::kCloud, true, rtt * noise(gen));
    Features f;
    f.request_bytes = 3000;
    f.warm = TierSet::All();
    auto d = sched.Decide("f", TierSet::All(), f);
    EXPECT_TRUE(d.ok());
    for (Tier t : AllTiers()) {
      if (t != d->tier && !d->shadow.Contains(t)) continue;
      Outcome o;
      o.tier = t;
      o.shadow = t != d->tier;
      o.exec_ms = (t == Tier::kEdge ? 30.0 : 10.0) * noise(gen);
      o.server_ms = o.exec_ms;
      o.latency_ms = o.exec_ms + (t == Tier::kCloud ? rtt * noise(gen) : 0.0);
      o.request_bytes = 3000;
      o.response_bytes = 500;
      Decision run = o.shadow ? Decision(t, Reason::kShadow) : *d;
      run.trace_id = d->trace_id;
      sched.Observe("f", run, o);
    }
    clock.AdvanceMicros(10'000);
  }
  return path;
}

TEST(TraceReplayTest, ReplayingThePolicyThatRanMakesTheLiveDecisions) {
  PolicyConfig live;
  live.shadow_rate = 0.05;
  auto trace = LoadTrace({RecordRun("live.jsonl", live)});
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->seed, 17u);
  EXPECT_DOUBLE_EQ(trace->policy.shadow_rate, 0.05);

  const ReplayScore recorded = ScoreLive(*trace);
  const ReplayScore same = Replay(*trace, trace->policy);
  EXPECT_EQ(recorded.decisions, 1200u);
  EXPECT_EQ(same.decisions, 1200u);
  EXPECT_EQ(same.agree, same.decisions);  // every live decision made again
  EXPECT_EQ(same.correct, recorded.correct);
  EXPECT_DOUBLE_EQ(same.regret_ms, recorded.regret_ms);
  EXPECT_GT(same.Accuracy(), 0.9);
  EXPECT_GT(same.from_samples, same.scored * 9 / 10);  // mostly scored by real runs

  PolicyConfig edge_only = trace->policy;
  edge_only.policy = PolicyKind::kEdgeOnly;
  const ReplayScore edge = Replay(*trace, edge_only);
  EXPECT_EQ(edge.placed[TierIndex(Tier::kEdge)], 1200u);
  // The cloud was the faster tier two thirds of the time: edge_only is
  // right only while the link was slow, and pays for the rest.
  EXPECT_NEAR(edge.Accuracy(), 1.0 / 3, 0.05);
  EXPECT_GT(edge.RegretPct(), 50.0);
  EXPECT_GT(edge.modelled, 0u);  // the unchosen edge scored from the model or shadows
  EXPECT_LT(edge.agree, 600u);
  const std::string table = FormatScores({recorded, same, edge});
  EXPECT_NE(table.find("| edge_only |"), std::string::npos);
  EXPECT_NE(table.find("| live (predictive) |"), std::string::npos);
}

TEST(TraceReplayTest, AMalformedLineIsNamed) {
  auto t = ParseTrace("{\"ev\":\"link\",\"tier\":\"cloud\",\"rtt_ms\":3}\nnot json\n");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("line 2"), std::string::npos);
  auto u = ParseTrace("{\"ev\":\"decision\",\"tier\":\"moon\",\"allowed\":[\"edge\"]}\n");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("tier"), std::string::npos);
  EXPECT_FALSE(LoadTrace({"/nonexistent/trace.jsonl"}).ok());
}

}  // namespace
}  // namespace stoa::scheduler
