// SplitPlanner (scheduler/split_planner.h): predictions, the exploration of
// untried options, and a choice that follows the link's rate.
#include "scheduler/split_planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace stoa::scheduler {
namespace {

TEST(SplitPlannerTest, PredictsPrefixPlusTransferPlusSuffix) {
  const SplitCandidate c{.target = "cloud",
                         .cut = "x",
                         .edge_ms = 0.0,
                         .prefix_ms = 2.0,
                         .suffix_ms = 1.0,
                         .transfer_bytes = 10'000,
                         .rate_bytes_per_ms = 1'000,
                         .link_offset_ms = 0.0,
                         .rtt_ms = 5.0};
  EXPECT_DOUBLE_EQ(PredictSplitMs(c), 2.0 + 5.0 + 10.0 + 1.0);
  std::vector<SplitCandidate> list = {c, c};
  list[1].prefix_ms = 1.0;
  EXPECT_EQ(BestSplitCandidate(list), 1u);
}

// A CNN-like function: input 600 KB, one early cut of 50 KB after 20 % of
// the work, a late cut of 4 KB after 90 % (estimated; it measures 80 ms).
const std::vector<SplitCutInfo> kCuts = {{.tensor = "early", .bytes = 50'000, .prefix_cost = 0.2},
                                         {.tensor = "late", .bytes = 4'000, .prefix_cost = 0.9}};
constexpr double kInput = 600'000;

SplitPlanner::Options NoExplore() { return {.weight = 0.5, .explore = 0.0, .seed = 3}; }

TEST(SplitPlannerTest, TriesEveryOptionOnceBeforeChoosing) {
  SplitPlanner planner(NoExplore());
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    const SplitPlanner::Choice c = planner.Decide("f", kCuts, "cloud", kInput, 1.0);
    order.push_back(c.cut.empty() ? c.target : c.cut);
    if (c.cut.empty()) {
      planner.ObserveWhole("f", c.target, c.target == "edge" ? 100.0 : 10.0, 5.0, kInput, 1.0);
    } else {
      planner.ObservePrefix("f", c.cut, 20.0, 0.0, 50'000);
      planner.ObserveSuffix("f", c.cut, "cloud", 8.0, 2.0, 50'000, 1.0);
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"edge", "cloud", "early", "late"}));
}

// Teaches the planner execution times (edge 100 ms whole, cloud 10 ms whole,
// prefixes and suffixes by their share) and a link of `rate` bytes/ms.
void Teach(SplitPlanner& planner, double rate) {
  for (int i = 0; i < 8; ++i) {
    planner.ObserveWhole("f", "edge", 100.0, 0.0, kInput, 1.0);
    planner.ObserveWhole("f", "cloud", 10.0, 1.0 + kInput / rate, kInput, 1.0);
    planner.ObservePrefix("f", "early", 20.0, 0.0, 50'000);
    planner.ObserveSuffix("f", "early", "cloud", 8.0, 1.0 + 50'000 / rate, 50'000, 1.0);
    planner.ObservePrefix("f", "late", 80.0, 0.0, 4'000);
    planner.ObserveSuffix("f", "late", "cloud", 1.0, 1.0, 4'000, 1.0);
  }
}

std::string Chosen(SplitPlanner& planner) {
  const SplitPlanner::Choice c = planner.Decide("f", kCuts, "cloud", kInput, 1.0);
  return c.cut.empty() ? c.target : c.cut;
}

TEST(SplitPlannerTest, TheChoiceFollowsTheLinkRate) {
  SplitPlanner planner(NoExplore());
  Teach(planner, 125'000);  // 1 Gbit/s: ship the input
  EXPECT_NEAR(planner.RateBytesPerMs("cloud"), 125'000, 1'000);
  EXPECT_EQ(Chosen(planner), "cloud");
  Teach(planner, 1'250);  // 10 Mbit/s: 480 ms for the input, 40 ms for the early cut
  EXPECT_EQ(Chosen(planner), "early");
  Teach(planner, 250);  // 2 Mbit/s: 200 ms for the early cut; the late one wins
  EXPECT_EQ(Chosen(planner), "late");
  Teach(planner, 125'000);
  EXPECT_EQ(Chosen(planner), "cloud");
}

TEST(SplitPlannerTest, UnobservedCutsAreSeededByTheirShareOfTheWork) {
  SplitPlanner planner(NoExplore());
  planner.ObserveWhole("f", "edge", 100.0, 0.0, kInput, 1.0);
  planner.ObserveWhole("f", "cloud", 10.0, 1.0, kInput, 1.0);
  const std::vector<SplitCandidate> c = planner.Candidates("f", kCuts, "cloud", kInput, 1.0);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_DOUBLE_EQ(c[2].prefix_ms, 20.0);
  EXPECT_DOUBLE_EQ(c[2].suffix_ms, 8.0);
  EXPECT_DOUBLE_EQ(c[3].prefix_ms, 90.0);
}

TEST(SplitPlannerTest, ExplorationSamplesTheLeastObservedOption) {
  SplitPlanner planner({.weight = 0.5, .explore = 1.0, .seed = 3});
  Teach(planner, 125'000);
  planner.ObservePrefix("f", "early", 20.0, 0.0, 50'000);  // early now has one more than the rest
  planner.ObserveSuffix("f", "early", "cloud", 8.0, 1.4, 50'000, 1.0);
  const SplitPlanner::Choice c = planner.Decide("f", kCuts, "cloud", kInput, 1.0);
  EXPECT_TRUE(c.explored);
  EXPECT_EQ(c.target, "edge");  // the first of the least observed, not the best (cloud)
  planner.Forget("f");
  EXPECT_EQ(Chosen(planner), "edge");  // back to bootstrapping
}

TEST(SplitPlannerTest, TheEdgeCallsNetworkTimeCountsForEveryOptionThatCallsTheEdge) {
  SplitPlanner planner(NoExplore());
  planner.ObserveWhole("f", "edge", 100.0, 30.0, kInput, 1.0);
  planner.ObserveWhole("f", "cloud", 10.0, 1.0, kInput, 1.0);
  planner.ObservePrefix("f", "early", 20.0, 10.0, 50'000);  // all edge calls: 30 -> 20
  const std::vector<SplitCandidate> c = planner.Candidates("f", kCuts, "cloud", kInput, 1.0);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_DOUBLE_EQ(c[0].edge_ms, 30.0);  // the whole run's own
  EXPECT_DOUBLE_EQ(PredictSplitMs(c[0]), 130.0);
  EXPECT_DOUBLE_EQ(c[1].edge_ms, 0.0);   // the whole run in the cloud does not call the edge
  EXPECT_DOUBLE_EQ(c[2].edge_ms, 10.0);  // early's own
  EXPECT_DOUBLE_EQ(c[3].edge_ms, 20.0);  // late, not observed: the seed of all edge calls
}

TEST(SplitPlannerTest, TheViewHasTheLastChoiceAndTheLink) {
  SplitPlanner planner(NoExplore());
  EXPECT_FALSE(planner.View("f", kCuts, "cloud", 1.0).last.has_value());
  Teach(planner, 1'250);
  const SplitPlanner::Choice chosen = planner.Decide("f", kCuts, "cloud", kInput, 1.0);
  const SplitPlanner::FunctionView view = planner.View("f", kCuts, "cloud", 1.0);
  ASSERT_TRUE(view.last.has_value());
  EXPECT_EQ(view.last->cut, chosen.cut);
  EXPECT_DOUBLE_EQ(view.last->predicted_ms, chosen.predicted_ms);
  EXPECT_DOUBLE_EQ(view.input_bytes, kInput);
  EXPECT_NEAR(view.rate_bytes_per_ms, 1'250, 10);
  EXPECT_EQ(view.rate_samples, 16);  // whole cloud and the early cut, 8 rounds
  ASSERT_EQ(view.options.size(), 4u);
  EXPECT_EQ(view.options[2].candidate.cut, "early");
  EXPECT_EQ(view.options[2].observations, 8);
  EXPECT_DOUBLE_EQ(view.options[2].predicted_ms, chosen.predicted_ms);  // "early" wins at 10 Mbit/s
}

// A link with a burst allowance (a token bucket of 16 KiB): the first bytes
// go at once, so the ratio of one small transfer overstates the rate. The
// fit over several sizes finds the rate and a negative offset.
TEST(SplitPlannerTest, TheLinkFitSeparatesTheRateFromTheBurst) {
  SplitPlanner planner(NoExplore());
  const double rate = 1'250;  // 10 Mbit/s
  auto transfer = [&](double bytes) { return std::max(0.0, bytes - 16'384) / rate; };
  for (int i = 0; i < 6; ++i) {
    for (double bytes : {50'176.0, 200'704.0, 602'112.0}) {
      planner.ObserveSuffix("f", "early", "cloud", 5.0, 10.0 + transfer(bytes), bytes, 10.0);
    }
  }
  EXPECT_NEAR(planner.RateBytesPerMs("cloud"), rate, 1.0);
  const SplitPlanner::FunctionView view = planner.View("f", kCuts, "cloud", 10.0);
  EXPECT_NEAR(view.link_offset_ms, -16'384 / rate, 0.01);
  ASSERT_EQ(view.options.size(), 4u);
  EXPECT_NEAR(TransferMs(view.options[2].candidate), transfer(50'000), 0.01);  // "early"
  EXPECT_DOUBLE_EQ(TransferMs(view.options[3].candidate), 0.0);  // "late": 4 KB, in the burst
}

TEST(SplitPlannerTest, AlikeSizesGiveTheRatioOfTheSums) {
  SplitPlanner planner(NoExplore());
  for (int i = 0; i < 5; ++i) planner.ObserveWhole("f", "cloud", 5.0, 1.0 + 480.0, kInput, 1.0);
  EXPECT_NEAR(planner.RateBytesPerMs("cloud"), kInput / 480.0, 1e-6);
  EXPECT_DOUBLE_EQ(planner.View("f", kCuts, "cloud", 1.0).link_offset_ms, 0.0);
}

}  // namespace
}  // namespace stoa::scheduler
