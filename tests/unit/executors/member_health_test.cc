#include "executors/member_health.h"

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::executors {
namespace {

using ::testing::HasSubstr;

TEST(MemberHealthTest, DownMarkLastsDownUsOnTheInjectedClock) {
  common::FakeClock clock(5'000'000);
  MemberHealth health(2, /*down_us=*/1'000'000, clock);
  EXPECT_TRUE(health.IsUp(0, clock.NowMicros()));
  health.MarkDown(0, absl::UnavailableError("connection refused"));
  EXPECT_FALSE(health.IsUp(0, clock.NowMicros()));
  EXPECT_TRUE(health.IsUp(1, clock.NowMicros()));

  std::vector<MemberStatus> snapshot = health.Snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  EXPECT_FALSE(snapshot[0].up);
  EXPECT_EQ(snapshot[0].down_until_us, 6'000'000);
  EXPECT_THAT(snapshot[0].last_error, HasSubstr("UNAVAILABLE: connection refused"));
  EXPECT_TRUE(snapshot[1].up);
  EXPECT_EQ(snapshot[1].down_until_us, 0);
  EXPECT_EQ(snapshot[1].last_error, "");

  clock.AdvanceMicros(999'999);
  EXPECT_FALSE(health.IsUp(0, clock.NowMicros()));
  clock.AdvanceMicros(1);
  EXPECT_TRUE(health.IsUp(0, clock.NowMicros()));
  EXPECT_TRUE(health.Snapshot()[0].up);
  // The error that marked it down stays for the record.
  EXPECT_THAT(health.Snapshot()[0].last_error, HasSubstr("connection refused"));
}

TEST(MemberHealthTest, AnAnswerClearsTheMarkAndStatusRecordsQueueDepth) {
  common::FakeClock clock;
  MemberHealth health(1, 1'000'000, clock);
  EXPECT_EQ(health.Snapshot()[0].queue_depth, -1);
  health.MarkDown(0, absl::UnavailableError("down"));
  health.MarkUp(0);
  EXPECT_TRUE(health.IsUp(0, clock.NowMicros()));
  health.MarkDown(0, absl::UnavailableError("down"));
  health.RecordStatus(0, 7);
  EXPECT_TRUE(health.IsUp(0, clock.NowMicros()));
  EXPECT_EQ(health.Snapshot()[0].queue_depth, 7);
}

TEST(MemberHealthTest, CountsCallsInFlight) {
  common::FakeClock clock;
  MemberHealth health(2, 1, clock);
  health.CallStarted(1);
  health.CallStarted(1);
  health.CallEnded(1);
  EXPECT_EQ(health.InFlight(0), 0);
  EXPECT_EQ(health.InFlight(1), 1);
  EXPECT_EQ(health.Snapshot()[1].in_flight, 1);
}

TEST(MemberHealthTest, ANewcomerIsPredictedLikeTheFastestMember) {
  common::FakeClock clock;
  MemberHealth health(2, 1, clock);
  health.RecordService(0, 3000.0);
  health.RecordService(1, 1000.0);
  const size_t fresh = health.Add();
  EXPECT_EQ(fresh, 2u);
  EXPECT_DOUBLE_EQ(health.PredictUs(fresh, true), health.PredictUs(1, true));
  health.RecordService(fresh, 2000.0);
  EXPECT_DOUBLE_EQ(health.PredictUs(fresh, true), 2000.0);
  health.MarkDown(fresh, absl::UnavailableError("gone"));
  health.Reset(fresh);  // a slot given to another member starts afresh
  EXPECT_TRUE(health.IsUp(fresh, clock.NowMicros()));
  EXPECT_EQ(health.Status(fresh).last_error, "");
  EXPECT_DOUBLE_EQ(health.PredictUs(fresh, true), 1000.0);
}

}  // namespace
}  // namespace stoa::executors
