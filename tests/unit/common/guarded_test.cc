#include "common/guarded.h"

#include <stdexcept>
#include <vector>

#include "absl/status/statusor.h"
#include "common/thread_pool.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using Done = std::function<void(absl::StatusOr<int>)>;

TEST(GuardedAnswerTest, AThrowBeforeAnsweringIsAnsweredInternal) {
  std::vector<absl::StatusOr<int>> answers;
  GuardedAnswer<absl::StatusOr<int>>(
      "test work", [&](absl::StatusOr<int> r) { answers.push_back(r); },
      [](Done) { throw std::runtime_error("boom"); });
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(answers[0].status().message(), "test work: boom");
}

TEST(GuardedAnswerTest, AThrowAfterAnsweringIsOnlyLogged) {
  std::vector<absl::StatusOr<int>> answers;
  GuardedAnswer<absl::StatusOr<int>>(
      "test work", [&](absl::StatusOr<int> r) { answers.push_back(r); },
      [](Done answer) {
        answer(7);
        answer(8);  // dropped
        throw 42;   // not a std::exception
      });
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(*answers[0], 7);
}

TEST(GuardedAnswerTest, ACallbackThatThrowsDoesNotEscape) {
  int calls = 0;
  EXPECT_NO_THROW(GuardedAnswer<absl::StatusOr<int>>(
      "test work",
      [&](absl::StatusOr<int>) {
        ++calls;
        throw std::runtime_error("callback");
      },
      [](Done answer) { answer(1); }));
  EXPECT_EQ(calls, 1);
}

TEST(RunLoggedTest, ThreadPoolSurvivesAThrowingTask) {
  ThreadPool pool(1);
  std::atomic<int> ran{0};
  pool.Schedule([] { throw std::runtime_error("task"); });
  pool.Schedule([&] { ran.fetch_add(1); });
  while (ran.load() == 0) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace stoa::common
