#include "gateway/deadline_watchdog.h"

#include <future>
#include <memory>

#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

DeadlineWatchdog::Options Recheck() { return {/*recheck_us=*/200}; }

std::future<void> Fired(DeadlineWatchdog& watchdog, int64_t due_us) {
  auto promise = std::make_shared<std::promise<void>>();
  auto future = promise->get_future();
  watchdog.Watch(due_us, [promise] { promise->set_value(); });
  return future;
}

TEST(DeadlineWatchdogTest, FiresOnlyOnceTheClockReachesTheDueTime) {
  common::FakeClock clock(1000);
  DeadlineWatchdog watchdog(clock, Recheck());
  auto late = Fired(watchdog, 2000);
  auto early = Fired(watchdog, 1400);
  EXPECT_EQ(watchdog.pending(), 2u);
  clock.AdvanceMicros(500);  // 1500: the early one is due, the late one not
  early.get();
  // Due entries fire in one pass, so once the early one fired the late one
  // was seen not due.
  EXPECT_EQ(watchdog.pending(), 1u);
  clock.AdvanceMicros(500);
  late.get();
  EXPECT_EQ(watchdog.pending(), 0u);
}

TEST(DeadlineWatchdogTest, ACancelledWatchNeverFires) {
  common::FakeClock clock(0);
  DeadlineWatchdog watchdog(clock, Recheck());
  bool fired = false;
  auto token = watchdog.Watch(100, [&fired] { fired = true; });
  watchdog.Cancel(token);
  watchdog.Cancel(token);  // a second cancel is a no-op
  auto marker = Fired(watchdog, 150);
  clock.AdvanceMicros(200);
  marker.get();  // the pass that would have fired the cancelled one is done
  EXPECT_FALSE(fired);
}

TEST(DeadlineWatchdogTest, ACallbackMayArmAnotherWatch) {
  common::FakeClock clock(0);
  DeadlineWatchdog watchdog(clock, Recheck());
  auto second = std::make_shared<std::promise<void>>();
  watchdog.Watch(10,
                 [&watchdog, second] { watchdog.Watch(20, [second] { second->set_value(); }); });
  clock.AdvanceMicros(30);
  second->get_future().get();
}

TEST(DeadlineWatchdogTest, ARealClockFiresWithoutRechecks) {
  DeadlineWatchdog watchdog(common::RealClock::Get(), {});
  Fired(watchdog, common::RealClock::Get().NowMicros() + 2000).get();
}

TEST(DeadlineWatchdogTest, PendingWatchesAreDroppedOnDestruction) {
  common::FakeClock clock(0);
  bool fired = false;
  {
    DeadlineWatchdog watchdog(clock, Recheck());
    watchdog.Watch(1'000'000, [&fired] { fired = true; });
  }
  EXPECT_FALSE(fired);
}

}  // namespace
}  // namespace stoa::gateway
