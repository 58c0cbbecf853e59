// DecisionTrace: what the scheduler records, size rotation, and errors.
#include "scheduler/decision_trace.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "scheduler/placement_scheduler.h"
#include "scheduler/trace_replay.h"

namespace stoa::scheduler {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Removes a directory when the test process exits.
struct RemovedAtExit {
  fs::path dir;
  ~RemovedAtExit() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::string TempPath(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("stoa_trace_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  static RemovedAtExit remove_dir{dir};
  return (dir / name).string();
}

std::vector<json> ReadLines(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) out.push_back(json::parse(line));
  return out;
}

// A scheduler that writes a fresh trace file (trace null: it could not
// be opened).
struct TracedScheduler {
  explicit TracedScheduler(const std::string& name) : path(TempPath(name)) {
    absl::StatusOr<std::unique_ptr<DecisionTrace>> opened = DecisionTrace::Open(path, 0);
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (opened.ok()) trace = std::move(*opened);
    SchedulerOptions options;
    options.trace = trace.get();
    sched = std::make_unique<PlacementScheduler>(clock, nullptr, 3, PolicyConfig{}, options);
  }
  std::string path;
  common::FakeClock clock;
  std::unique_ptr<DecisionTrace> trace;
  std::unique_ptr<PlacementScheduler> sched;
};

absl::StatusOr<Trace> ParseFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  return ParseTrace(text.str());
}

// One decision, its outcome and a shadow run's, and a link probe.
void DriveOnce(PlacementScheduler& sched, common::FakeClock& clock) {
  Features f;
  f.request_bytes = 4000;
  f.warm = TierSet::All();
  f.queue_depth[TierIndex(Tier::kCloud)] = 2;
  auto d = sched.Decide("f", TierSet::All(), f);
  ASSERT_TRUE(d.ok());
  Outcome o;
  o.tier = d->tier;
  o.latency_ms = 12;
  o.server_ms = 10;
  o.exec_ms = 10;
  o.request_bytes = 4000;
  clock.AdvanceMicros(12'000);
  sched.Observe("f", *d, o);
  sched.ObserveLink(Tier::kCloud, true, 3.5);
}

TEST(DecisionTraceTest, RecordsDecisionsOutcomesAndLinks) {
  const std::string path = TempPath("a.jsonl");
  auto trace = DecisionTrace::Open(path, 0);
  ASSERT_TRUE(trace.ok()) << trace.status();
  common::FakeClock clock;
  SchedulerOptions options;
  options.in_process.Add(Tier::kEdge);
  options.trace = trace->get();
  PlacementScheduler sched(clock, nullptr, 3, {}, options);
  (*trace)->RecordStart(3, options.in_process, 0, sched.GetPolicy());
  DriveOnce(sched, clock);
  DriveOnce(sched, clock);
  std::vector<json> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0]["ev"], "start");
  EXPECT_EQ(lines[0]["seed"], 3);
  EXPECT_EQ(lines[0]["policy"]["policy"], "predictive");
  const json& dec = lines[4];  // the second decision: both tiers' model known
  EXPECT_EQ(dec["ev"], "decision");
  EXPECT_EQ(dec["fn"], "f");
  EXPECT_EQ(dec["bytes"], 4000);
  EXPECT_EQ(dec["tiers"]["cloud"]["queue_depth"], 2);
  EXPECT_EQ(dec["tiers"]["cloud"]["link_rtt_ms"], 3.5);
  EXPECT_TRUE(dec["tiers"]["edge"]["link_rtt_ms"].is_null());  // in-process
  // The tier the first decision tried is measured by the second.
  EXPECT_TRUE(dec["tiers"][lines[1]["tier"].get<std::string>()]["measured"].get<bool>());
  EXPECT_TRUE(dec["tiers"]["cloud"]["terms"].contains("net"));
  const json& out = lines[5];
  EXPECT_EQ(out["ev"], "outcome");
  EXPECT_EQ(out["id"], dec["id"]);
  EXPECT_NE(dec["id"], lines[1]["id"]);
  EXPECT_EQ(out["latency_ms"], 12.0);
  EXPECT_EQ(lines[6]["ev"], "link");
  EXPECT_EQ(lines[6]["rtt_ms"], 3.5);
  EXPECT_EQ((*trace)->Lines(), 7u);
}

// A reported CPU quota is traced when it changes, and replays read it back.
TEST(DecisionTraceTest, RecordsQuotaChangesAndParsesThem) {
  TracedScheduler t("q.jsonl");
  ASSERT_NE(t.trace, nullptr);
  PlacementScheduler& sched = *t.sched;
  common::FakeClock& clock = t.clock;
  const std::string& path = t.path;
  t.trace->RecordStart(3, SchedulerOptions().in_process, 0, sched.GetPolicy());
  sched.ObserveCpuQuota(Tier::kEdge, 0.05);
  sched.ObserveCpuQuota(Tier::kEdge, 0.05);  // unchanged: not traced
  clock.AdvanceMicros(15'000'000);
  sched.ObserveCpuQuota(Tier::kEdge, 1.0);
  std::vector<json> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["ev"], "quota");
  EXPECT_EQ(lines[1]["tier"], "edge");
  EXPECT_EQ(lines[1]["cores"], 0.05);
  EXPECT_EQ(lines[2]["t_us"], 15'000'000);
  absl::StatusOr<Trace> parsed = ParseFile(path);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->events.size(), 2u);
  EXPECT_EQ(parsed->events[1].kind, TraceEvent::Kind::kQuota);
  EXPECT_EQ(parsed->events[1].tier, Tier::kEdge);
  EXPECT_DOUBLE_EQ(parsed->events[1].cpu_quota_cores, 1.0);
}

// The tier's saturated state is traced when it changes, and so is every
// probe outside a spell that may start one with the next (throttled 0.5 or
// more, or the first below after such a one); replays read them. A probe
// that repeats the last one's figures (the executor's meter answering
// within its window) is neither traced nor a second probe.
TEST(DecisionTraceTest, RecordsSaturationChangesAndParsesThem) {
  TracedScheduler t("s.jsonl");
  ASSERT_NE(t.trace, nullptr);
  PlacementScheduler& sched = *t.sched;
  common::FakeClock& clock = t.clock;
  const std::string& path = t.path;
  sched.ObserveCpuThrottle(Tier::kCloud, 0.03, 0.01);
  sched.ObserveCpuThrottle(Tier::kCloud, 1.7, 0.03);  // the first of a pair
  sched.ObserveCpuThrottle(Tier::kCloud, 1.7, 0.03);  // the same window again: nothing
  sched.ObserveCpuThrottle(Tier::kCloud, 1.6, 0.03);  // saturated
  sched.ObserveCpuThrottle(Tier::kCloud, 1.5, 0.03);  // still: not traced
  sched.ObserveCpuThrottle(Tier::kCloud, 0.3, 0.03);  // between the thresholds: still
  clock.AdvanceMicros(1'000'000);
  sched.ObserveCpuThrottle(Tier::kCloud, 0.05, 0.02);  // over
  std::vector<json> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["ev"], "throttle");
  EXPECT_EQ(lines[0]["tier"], "cloud");
  EXPECT_EQ(lines[0]["throttled"], 1.7);
  EXPECT_EQ(lines[0]["used_cores"], 0.03);
  EXPECT_EQ(lines[1]["throttled"], 1.6);
  EXPECT_EQ(lines[2]["t_us"], 1'000'000);
  absl::StatusOr<Trace> parsed = ParseFile(path);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->events.size(), 3u);
  EXPECT_EQ(parsed->events[0].kind, TraceEvent::Kind::kThrottle);
  EXPECT_EQ(parsed->events[0].tier, Tier::kCloud);
  EXPECT_DOUBLE_EQ(parsed->events[2].cpu_throttled, 0.05);
  EXPECT_DOUBLE_EQ(parsed->events[2].cpu_used_cores, 0.02);
}

// Throttling of the executor's own making starts no saturated spell, but
// whether the tier is throttled at all decides whether its probes can end
// a late hold (TierSignals::SteadyProbeUs): each crossing of 0.2 is traced
// too, so that a replay sees the same probes as the live run; and so is
// each probe throttled 0.5 or more (whether two of them in a row start a
// spell depends on the executor's use over both).
TEST(DecisionTraceTest, RecordsThrottlingCrossingsOfItsOwnMaking) {
  TracedScheduler t("o.jsonl");
  ASSERT_NE(t.trace, nullptr);
  PlacementScheduler& sched = *t.sched;
  sched.ObserveCpuQuota(Tier::kCloud, 0.3);
  sched.ObserveCpuThrottle(Tier::kCloud, 0.6, 0.28);  // throttled, own load
  sched.ObserveCpuThrottle(Tier::kCloud, 0.7, 0.27);  // still: traced, no spell
  sched.ObserveCpuThrottle(Tier::kCloud, 0.3, 0.2);   // the first under 0.5: traced
  sched.ObserveCpuThrottle(Tier::kCloud, 0.4, 0.2);   // not traced
  sched.ObserveCpuThrottle(Tier::kCloud, 0.1, 0.05);  // no longer
  std::vector<json> lines = ReadLines(t.path);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["ev"], "quota");
  EXPECT_EQ(lines[1]["ev"], "throttle");
  EXPECT_EQ(lines[1]["throttled"], 0.6);
  EXPECT_EQ(lines[2]["throttled"], 0.7);
  EXPECT_EQ(lines[3]["throttled"], 0.3);
  EXPECT_EQ(lines[4]["ev"], "throttle");
  EXPECT_EQ(lines[4]["throttled"], 0.1);
}

TEST(DecisionTraceTest, RotatesBySizeAndStartsEachFileWithTheStart) {
  const std::string path = TempPath("b.jsonl");
  auto trace = DecisionTrace::Open(path, 4096);
  ASSERT_TRUE(trace.ok());
  (*trace)->RecordStart(9, TierSet::Of(Tier::kEdge), 0);
  for (int i = 0; i < 200; ++i) (*trace)->RecordLink(i, Tier::kCloud, true, i * 0.5);
  EXPECT_GE((*trace)->Rotations(), 1u);
  EXPECT_LE(fs::file_size(path), 4096u);
  EXPECT_LE(fs::file_size(path + ".1"), 4096u);
  std::vector<json> current = ReadLines(path);
  ASSERT_FALSE(current.empty());
  EXPECT_EQ(current[0]["ev"], "start");
  EXPECT_EQ(current[0]["seed"], 9);
  EXPECT_EQ(current.back()["t_us"], 199);  // the newest event is kept
}

TEST(DecisionTraceTest, AnUncreatableFileIsAClearError) {
  auto trace = DecisionTrace::Open("/nonexistent-dir/x/trace.jsonl", 0);
  ASSERT_FALSE(trace.ok());
  EXPECT_EQ(trace.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(trace.status().message().find("/nonexistent-dir/x/trace.jsonl"), std::string::npos);
  EXPECT_FALSE(DecisionTrace::Open("", 0).ok());
}

}  // namespace
}  // namespace stoa::scheduler
