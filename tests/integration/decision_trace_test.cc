// Decision traces from a real gateway (issue 14 item 3): stoa-gateway
// --trace-file records the decisions of a run over a real cloud executor
// and the in-process edge, with shadow samples; the trace is replayed
// offline through the policy that ran and through edge_only.
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "scheduler/trace_replay.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using json = nlohmann::json;

std::string OneImage(int seed) {
  json data = json::array();
  for (int i = 0; i < 64; ++i) data.push_back((i + seed) % 13);
  json body;
  body["inputs"] =
      json::array({{{"name", "pixels"}, {"shape", {1, 64}}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

TEST(DecisionTraceIntegrationTest, AGatewayRunIsRecordedAndReplayed) {
  const std::string trace_file = MakeTempDir("trace") + "/trace.jsonl";
  Platform p = StartPlatform("trace", {"--trace-file", trace_file, "--status-interval-ms", "100"});
  ASSERT_NE(p.client, nullptr);
  ASSERT_EQ(RegisterDigits(*p.client), 201);
  ASSERT_EQ(p.client->Put("/v1/policy", R"({"policy":"predictive","shadow_rate":0.3})").status,
            200);
  constexpr int kRequests = 80;
  for (int i = 0; i < kRequests; ++i) {
    HttpResult r = p.client->Post("/v1/functions/digits/invoke", OneImage(i));
    ASSERT_EQ(r.status, 200) << r.body;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // shadow runs finish

  auto trace = scheduler::LoadTrace({trace_file});
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_DOUBLE_EQ(trace->policy.shadow_rate, 0.0);  // the start-up policy
  int decisions = 0, outcomes = 0, shadows = 0, links = 0;
  for (const scheduler::TraceEvent& ev : trace->events) {
    decisions += ev.kind == scheduler::TraceEvent::Kind::kDecision;
    outcomes += ev.kind == scheduler::TraceEvent::Kind::kOutcome;
    shadows += ev.kind == scheduler::TraceEvent::Kind::kOutcome && ev.outcome.shadow && ev.id != 0;
    links += ev.kind == scheduler::TraceEvent::Kind::kLink;
  }
  EXPECT_EQ(decisions, kRequests);
  EXPECT_GE(outcomes, kRequests);
  EXPECT_GT(shadows, 5);  // shadow runs carry their decision's id
  EXPECT_GT(links, 3);    // status probes of the cloud

  // Replayed through the policy that ran (its document, the recorded seed).
  scheduler::PolicyConfig ran = trace->policy;
  ran.shadow_rate = 0.3;
  const scheduler::ReplayScore live = scheduler::ScoreLive(*trace);
  const scheduler::ReplayScore same = scheduler::Replay(*trace, ran);
  scheduler::PolicyConfig edge_only = ran;
  edge_only.policy = scheduler::PolicyKind::kEdgeOnly;
  const scheduler::ReplayScore edge = scheduler::Replay(*trace, edge_only);
  std::cerr << scheduler::FormatScores({live, same, edge});
  EXPECT_EQ(same.decisions, static_cast<uint64_t>(kRequests));
  EXPECT_GE(same.agree, same.decisions * 8 / 10);  // live timing reorders a few events
  EXPECT_GT(live.scored, 0u);
  EXPECT_EQ(edge.placed[0], static_cast<uint64_t>(kRequests));
  EXPECT_GT(edge.scored, 0u);
  EXPECT_NE(edge.regret_ms, same.regret_ms);  // computed, not constant
}

}  // namespace
}  // namespace stoa::testing
