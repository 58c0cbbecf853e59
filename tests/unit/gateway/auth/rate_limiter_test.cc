#include "gateway/auth/rate_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/overload.h"

namespace stoa::gateway::auth {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1000000;

TEST(RateLimiterTest, BurstThenRefusedWithRetryAfterThenRefilled) {
  common::FakeClock clock(1000);
  RateLimiter limiter(clock);
  const RateLimit limit{0.5, 3};  // one token every 2 s
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Charge("file:a", limit).ok()) << i;
  absl::Status refused = limiter.Charge("file:a", limit);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("rate limit of file:a exceeded"));
  EXPECT_EQ(common::RetryAfterSeconds(refused), 2);
  clock.AdvanceMicros(kSecond);  // half a token
  refused = limiter.Charge("file:a", limit);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(common::RetryAfterSeconds(refused), 1);
  clock.AdvanceMicros(kSecond);
  EXPECT_TRUE(limiter.Charge("file:a", limit).ok());
  EXPECT_FALSE(limiter.Charge("file:a", limit).ok());
}

TEST(RateLimiterTest, RetryAfterIsAtLeastOneSecond) {
  common::FakeClock clock;
  RateLimiter limiter(clock);
  const RateLimit limit{1000, 1};
  EXPECT_TRUE(limiter.Charge("k", limit).ok());
  absl::Status refused = limiter.Charge("k", limit);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(common::RetryAfterSeconds(refused), 1);
}

TEST(RateLimiterTest, IdentitiesHaveTheirOwnBuckets) {
  common::FakeClock clock;
  RateLimiter limiter(clock);
  const RateLimit limit{1, 1};
  EXPECT_TRUE(limiter.Charge("file:a", limit).ok());
  EXPECT_FALSE(limiter.Charge("file:a", limit).ok());
  EXPECT_TRUE(limiter.Charge("file:b", limit).ok());
  EXPECT_TRUE(limiter.Charge("jwt:a", limit).ok());
}

TEST(RateLimiterTest, UnlimitedNeverRefusesAndKeepsNoState) {
  common::FakeClock clock;
  RateLimiter limiter(clock);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.Charge("file:a", RateLimit{}).ok());
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(RateLimiterTest, DefaultBurstIsTheRateAtLeastOne) {
  common::FakeClock clock;
  RateLimiter limiter(clock);
  int allowed = 0;
  for (int i = 0; i < 20; ++i) allowed += limiter.Charge("k", RateLimit{5, 0}).ok();
  EXPECT_EQ(allowed, 5);
}

TEST(RateLimiterTest, ANewLimitAppliesAtTheNextChargeKeepingTokens) {
  common::FakeClock clock;
  RateLimiter limiter(clock);
  EXPECT_TRUE(limiter.Charge("k", RateLimit{1, 10}).ok());  // 9 left
  // The burst shrinks to 2: the tokens above it are gone.
  EXPECT_TRUE(limiter.Charge("k", RateLimit{1, 2}).ok());
  EXPECT_TRUE(limiter.Charge("k", RateLimit{1, 2}).ok());
  EXPECT_FALSE(limiter.Charge("k", RateLimit{1, 2}).ok());
  // A faster rate applies from the charge that brings it: the 0.1 s before
  // earned 0.1 token at the old rate, the next 0.1 s a whole one.
  clock.AdvanceMicros(kSecond / 10);
  EXPECT_FALSE(limiter.Charge("k", RateLimit{10, 2}).ok());
  clock.AdvanceMicros(kSecond / 10);
  EXPECT_TRUE(limiter.Charge("k", RateLimit{10, 2}).ok());
}

TEST(RateLimiterTest, RetainDropsIdentitiesGoneFromTheFile) {
  common::FakeClock clock;
  RateLimiter limiter(clock);
  const RateLimit limit{1, 1};
  EXPECT_TRUE(limiter.Charge("file:a", limit).ok());
  EXPECT_TRUE(limiter.Charge("file:b", limit).ok());
  EXPECT_TRUE(limiter.Charge("jwt:c", limit).ok());
  limiter.Retain("file:", {"file:a"});
  EXPECT_EQ(limiter.size(), 2u);
  EXPECT_FALSE(limiter.Charge("file:a", limit).ok());  // kept: still empty
  EXPECT_TRUE(limiter.Charge("file:b", limit).ok());   // dropped: a fresh bucket
  EXPECT_FALSE(limiter.Charge("jwt:c", limit).ok());   // another prefix: untouched
}

TEST(RateLimiterTest, RefilledBucketsAreForgottenSoMemoryStaysBounded) {
  common::FakeClock clock;
  RateLimiter limiter(clock);
  const RateLimit limit{10, 1};
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 1000; ++i) {
      EXPECT_TRUE(limiter.Charge(absl::StrCat("jwt:", round, "-", i), limit).ok());
    }
    clock.AdvanceMicros(kSecond);  // every bucket refills
  }
  EXPECT_LE(limiter.size(), 2048u);
}

}  // namespace
}  // namespace stoa::gateway::auth
