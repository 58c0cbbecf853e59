#include "scheduler/circuit_breaker.h"

#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

constexpr int64_t kOpenUs = 1'000'000;

TEST(CircuitBreakerTest, OpensAfterThresholdConsecutiveFailures) {
  CircuitBreaker cb;
  EXPECT_EQ(cb.State(0), CircuitState::kClosed);
  cb.RecordFailure(0, 3, kOpenUs);
  cb.RecordFailure(0, 3, kOpenUs);
  EXPECT_EQ(cb.State(0), CircuitState::kClosed);
  EXPECT_TRUE(cb.Admits(0));
  cb.RecordFailure(10, 3, kOpenUs);
  EXPECT_EQ(cb.State(10), CircuitState::kOpen);
  EXPECT_FALSE(cb.Admits(10));
  EXPECT_FALSE(cb.TryAdmit(10, kOpenUs));
  EXPECT_EQ(cb.OpenRemainingUs(10), kOpenUs);
  EXPECT_EQ(cb.ConsecutiveFailures(), 3);
}

TEST(CircuitBreakerTest, SuccessResetsTheCount) {
  CircuitBreaker cb;
  cb.RecordFailure(0, 3, kOpenUs);
  cb.RecordFailure(0, 3, kOpenUs);
  cb.RecordSuccess(0);
  cb.RecordFailure(0, 3, kOpenUs);
  cb.RecordFailure(0, 3, kOpenUs);
  EXPECT_EQ(cb.State(0), CircuitState::kClosed);
}

TEST(CircuitBreakerTest, HalfOpenAdmitsOneProbeThatClosesOnSuccess) {
  CircuitBreaker cb;
  cb.RecordFailure(0, 1, kOpenUs);
  EXPECT_EQ(cb.State(kOpenUs - 1), CircuitState::kOpen);
  EXPECT_EQ(cb.State(kOpenUs), CircuitState::kHalfOpen);
  EXPECT_TRUE(cb.Admits(kOpenUs));
  EXPECT_TRUE(cb.TryAdmit(kOpenUs, kOpenUs));
  EXPECT_FALSE(cb.Admits(kOpenUs + 1));  // probe in flight
  EXPECT_FALSE(cb.TryAdmit(kOpenUs + 1, kOpenUs));
  cb.RecordSuccess(kOpenUs + 5);
  EXPECT_EQ(cb.State(kOpenUs + 5), CircuitState::kClosed);
  EXPECT_EQ(cb.ConsecutiveFailures(), 0);
  EXPECT_TRUE(cb.TryAdmit(kOpenUs + 6, kOpenUs));
  EXPECT_TRUE(cb.TryAdmit(kOpenUs + 6, kOpenUs));
}

TEST(CircuitBreakerTest, FailedProbeReopens) {
  CircuitBreaker cb;
  cb.RecordFailure(0, 1, kOpenUs);
  ASSERT_TRUE(cb.TryAdmit(kOpenUs, kOpenUs));
  cb.RecordFailure(kOpenUs + 10, 1, kOpenUs);
  EXPECT_EQ(cb.State(kOpenUs + 10), CircuitState::kOpen);
  EXPECT_EQ(cb.State(2 * kOpenUs + 9), CircuitState::kOpen);
  EXPECT_EQ(cb.State(2 * kOpenUs + 10), CircuitState::kHalfOpen);
  EXPECT_TRUE(cb.TryAdmit(2 * kOpenUs + 10, kOpenUs));  // a fresh probe slot
}

TEST(CircuitBreakerTest, LostProbeFreesTheSlotAfterOpenPeriod) {
  CircuitBreaker cb;
  cb.RecordFailure(0, 1, kOpenUs);
  ASSERT_TRUE(cb.TryAdmit(kOpenUs, kOpenUs));
  EXPECT_FALSE(cb.TryAdmit(2 * kOpenUs - 1, kOpenUs));
  EXPECT_TRUE(cb.TryAdmit(2 * kOpenUs, kOpenUs));
}

TEST(CircuitBreakerTest, SuccessWhileOpenIsIgnored) {
  CircuitBreaker cb;
  cb.RecordFailure(0, 1, kOpenUs);
  cb.RecordSuccess(5);  // a request that left before the circuit opened
  EXPECT_EQ(cb.State(5), CircuitState::kOpen);
}

TEST(CircuitBreakerTest, StateNames) {
  EXPECT_EQ(CircuitStateName(CircuitState::kClosed), "closed");
  EXPECT_EQ(CircuitStateName(CircuitState::kOpen), "open");
  EXPECT_EQ(CircuitStateName(CircuitState::kHalfOpen), "half_open");
}

}  // namespace
}  // namespace stoa::scheduler
