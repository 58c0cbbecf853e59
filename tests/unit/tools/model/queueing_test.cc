#include "tools/model/queueing.h"

#include "gtest/gtest.h"

namespace stoa::tools::model {
namespace {

TEST(ErlangTest, KnownValues) {
  // c = 1: the probability of waiting is the utilisation.
  EXPECT_NEAR(*ErlangC(1, 0.5), 0.5, 1e-12);
  EXPECT_NEAR(*ErlangC(1, 0.9), 0.9, 1e-12);
  // c = 2, a = 1: (1/2 * 2) / (1 + 1 + 1) = 1/3.
  EXPECT_NEAR(*ErlangC(2, 1.0), 1.0 / 3.0, 1e-12);
  // Tabulated: C(10, 8) = 0.4092, C(5, 4) = 0.5541, B(10, 8) = 0.1217.
  EXPECT_NEAR(*ErlangC(10, 8.0), 0.40918, 1e-4);
  EXPECT_NEAR(*ErlangC(5, 4.0), 0.55411, 1e-4);
  EXPECT_NEAR(*ErlangB(10, 8.0), 0.12166, 1e-4);
  EXPECT_NEAR(*ErlangB(1, 1.0), 0.5, 1e-12);
  EXPECT_EQ(*ErlangC(4, 0.0), 0.0);
}

TEST(ErlangTest, LargeServerCountsAreStable) {
  auto c = ErlangC(500, 450.0);
  ASSERT_TRUE(c.ok());
  EXPECT_GT(*c, 0.0);
  EXPECT_LT(*c, 1.0);
}

TEST(ErlangTest, MeanWaitOfMM1AndMM2) {
  // M/M/1: Wq = rho / (mu - lambda); lambda 8, mu 10: 0.8 / 2 = 0.4 s.
  EXPECT_NEAR(*MmcMeanWait(1, 8.0, 10.0), 0.4, 1e-12);
  // M/M/2, lambda 1, mu 1: C = 1/3, Wq = (1/3) / (2 - 1) = 1/3.
  EXPECT_NEAR(*MmcMeanWait(2, 1.0, 1.0), 1.0 / 3.0, 1e-12);
}

TEST(ErlangTest, RejectsBadInputAndUnstableQueues) {
  EXPECT_EQ(ErlangC(0, 0.5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErlangB(2, -1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErlangC(2, 2.0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MmcMeanWait(1, 10.0, 10.0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MmcMeanWait(1, 1.0, 0.0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stoa::tools::model
