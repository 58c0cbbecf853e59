// The executor's queue admission (executors/queue_admission.h).
#include "executors/queue_admission.h"

#include "common/overload.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::executors {
namespace {

using ::testing::HasSubstr;

TEST(QueueAdmissionTest, FullQueueIsRefusedNamingTheLimit) {
  QueueState s{.queued = 8, .workers = 2, .max_queue = 0, .mean_service_us = 0};
  EXPECT_EQ(QueueLimit(s), 8u);
  absl::Status refused = AdmitToQueue(s, "f", 0);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("8 queued; the limit is 8 queued"));
  EXPECT_TRUE(common::IsExecutorSaturated(refused));
  s.queued = 7;
  EXPECT_TRUE(AdmitToQueue(s, "f", 0).ok());
  s.max_queue = 3;
  EXPECT_FALSE(AdmitToQueue(s, "f", 0).ok());
}

TEST(QueueAdmissionTest, QueueAheadPastTheDeadlineIsRefused) {
  QueueState s{.queued = 1, .running = 2, .workers = 2, .max_queue = 0, .mean_service_us = 2e6};
  // Starts after one 2 s round, runs 2 s: 4 s.
  absl::Status refused = AdmitToQueue(s, "f", 3'999'000);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("(executor queue wait)"));
  EXPECT_TRUE(common::IsExecutorSaturated(refused));
  EXPECT_TRUE(AdmitToQueue(s, "f", 4'000'000).ok());
  EXPECT_TRUE(AdmitToQueue(s, "f", 0).ok());  // no deadline
  s.queued = 0;                               // both busy, nothing queued: 2 s + 2 s
  EXPECT_FALSE(AdmitToQueue(s, "f", 3'999'000).ok());
  s.running = 0;  // a worker free: taken, even with one queued for pickup
  s.queued = 1;
  EXPECT_TRUE(AdmitToQueue(s, "f", 1000).ok());
}

TEST(QueueAdmissionTest, OtherResourceExhaustedIsNoSaturation) {
  EXPECT_FALSE(common::IsExecutorSaturated(
      absl::ResourceExhaustedError("Sent message larger than max (100 vs. 4)")));
  EXPECT_FALSE(common::IsExecutorSaturated(absl::UnavailableError("(executor queue limit)")));
}

}  // namespace
}  // namespace stoa::executors
