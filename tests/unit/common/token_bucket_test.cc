#include "common/token_bucket.h"

#include <gtest/gtest.h>

namespace stoa::common {
namespace {

constexpr double kMbit8 = 1e6;  // 8 Mbit/s in bytes per second

TEST(TokenBucketTest, UnlimitedReleasesAtOnce) {
  TokenBucket bucket(0, 1000);
  EXPECT_EQ(bucket.Take(5, 1 << 30), 5);
  EXPECT_EQ(bucket.Take(7, 1 << 30), 7);
}

TEST(TokenBucketTest, BurstIsFreeThenBytesLeaveAtTheRate) {
  TokenBucket bucket(kMbit8, 1000);
  EXPECT_EQ(bucket.Take(0, 1000), 0);     // the burst
  EXPECT_EQ(bucket.Take(0, 1000), 1000);  // 1000 B at 1 MB/s: 1 ms
  EXPECT_EQ(bucket.Take(0, 2000), 3000);  // queued behind the previous
}

TEST(TokenBucketTest, StreamOfChunksMatchesTheRateWhateverTheirSize) {
  TokenBucket bucket(kMbit8, 0);
  int64_t done = 0;
  size_t total = 0;
  for (int i = 0; i < 1000; ++i) {
    const size_t bytes = 1000 + (i % 7) * 100;
    total += bytes;
    done = bucket.Take(0, bytes);
  }
  // At 1 MB/s the last byte leaves after `total` µs, to the µs.
  EXPECT_EQ(done, static_cast<int64_t>(total));
}

TEST(TokenBucketTest, IdleTimeRefillsUpToTheBurstOnly) {
  TokenBucket bucket(kMbit8, 1000);
  EXPECT_EQ(bucket.Take(0, 1000), 0);
  // Ten seconds idle earn at most the burst.
  EXPECT_EQ(bucket.Take(10000000, 3000), 10000000 + 2000);
}

TEST(TokenBucketTest, RateChangeAppliesToTheDebtFromThenOn) {
  TokenBucket bucket(kMbit8, 0);
  EXPECT_EQ(bucket.Take(0, 1000), 1000);
  bucket.SetRate(0, kMbit8 / 2);
  EXPECT_EQ(bucket.Take(0, 1000), 4000);  // 2000 B of debt at 0.5 MB/s
  bucket.SetRate(0, 0);
  EXPECT_EQ(bucket.Take(0, 1000), 0);
}

TEST(TokenBucketTest, TimeGoingBackwardsCountsAsTheLatest) {
  TokenBucket bucket(kMbit8, 0);
  EXPECT_EQ(bucket.Take(1000, 1000), 2000);
  EXPECT_EQ(bucket.Take(0, 1000), 3000);
}

}  // namespace
}  // namespace stoa::common

namespace stoa::common {
namespace {

TEST(TokenBucketTryTakeTest, AllOrNothingWithTheWaitUntilTheTokensAreThere) {
  TokenBucket bucket(2, 3);  // 2 per second, burst 3
  EXPECT_EQ(bucket.TryTake(0, 1), 0);
  EXPECT_EQ(bucket.TryTake(0, 1), 0);
  EXPECT_EQ(bucket.TryTake(0, 1), 0);
  EXPECT_EQ(bucket.TryTake(0, 1), 500000);  // one token at 2/s
  EXPECT_EQ(bucket.TryTake(0, 1), 500000);  // the refusal took nothing
  EXPECT_EQ(bucket.TryTake(250000, 1), 250000);
  EXPECT_EQ(bucket.TryTake(500000, 1), 0);
  EXPECT_FALSE(bucket.Full(500000));
  EXPECT_TRUE(bucket.Full(2000000));
}

TEST(TokenBucketTryTakeTest, UnlimitedAlwaysSucceeds) {
  TokenBucket bucket(0, 0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(bucket.TryTake(0, 1), 0);
  EXPECT_TRUE(bucket.Full(0));
}

TEST(TokenBucketTryTakeTest, SetBurstDropsTokensAboveTheNewBurst) {
  TokenBucket bucket(1, 10);
  bucket.SetBurst(0, 2);
  EXPECT_EQ(bucket.TryTake(0, 2), 0);
  EXPECT_GT(bucket.TryTake(0, 1), 0);
  EXPECT_DOUBLE_EQ(bucket.burst(), 2);
}

}  // namespace
}  // namespace stoa::common
