#include "common/backoff.h"

#include <chrono>

#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesFromMinToMaxAndResets) {
  Backoff backoff(milliseconds(10), milliseconds(1000));
  const int expected[] = {10, 20, 40, 80, 160, 320, 640, 1000, 1000};
  for (int ms : expected) EXPECT_EQ(backoff.Next(), milliseconds(ms));
  EXPECT_EQ(backoff.failures(), 9);
  backoff.Reset();
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_EQ(backoff.Next(), milliseconds(10));
  EXPECT_EQ(backoff.Next(), milliseconds(20));
}

TEST(BackoffTest, DegenerateBoundsStayPositive) {
  Backoff zero(milliseconds(0), milliseconds(0));
  EXPECT_EQ(zero.Next(), milliseconds(1));
  EXPECT_EQ(zero.Next(), milliseconds(1));
  Backoff inverted(milliseconds(50), milliseconds(10));
  EXPECT_EQ(inverted.Next(), milliseconds(50));
  EXPECT_EQ(inverted.Next(), milliseconds(50));
}

}  // namespace
}  // namespace stoa::common
