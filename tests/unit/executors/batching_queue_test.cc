// BatchingQueue, stacking/splitting and RunBatch, driven by a FakeClock.
#include "executors/batching_queue.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_runtime.h"

namespace stoa::executors {
namespace {

using ::stoa::executors::testing::FloatValues;

// An FP32 tensor of the given shape; values start at `first` and count up.
v1::Tensor Rows(const std::string& name, std::vector<int64_t> shape, float first) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = first + static_cast<float>(i);
  v1::Tensor t;
  t.set_name(name);
  t.set_datatype(v1::FP32);
  for (int64_t d : shape) t.add_shape(d);
  t.set_raw(values.data(), values.size() * sizeof(float));
  return t;
}

functions::InvocationInput Input(std::vector<int64_t> shape, float first = 0) {
  functions::InvocationInput in;
  in.tensors.push_back(Rows("x", std::move(shape), first));
  return in;
}

struct Result {
  absl::StatusOr<functions::InvocationOutput> output = absl::UnknownError("not called");
  BatchRunInfo info;
  int calls = 0;
};

BatchMember Member(functions::InvocationInput input, Result* result) {
  BatchMember m;
  m.input = std::move(input);
  m.done = [result](absl::StatusOr<functions::InvocationOutput> out, const BatchRunInfo& info) {
    result->output = std::move(out);
    result->info = info;
    ++result->calls;
  };
  return m;
}

BatchShape ShapeOf(const functions::InvocationInput& in) {
  absl::StatusOr<BatchShape> s = GetBatchShape(in);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : BatchShape{};
}

// y = 2x per element, with the input's shape; records the rows of each call.
struct Doubler {
  std::vector<int64_t> calls;
  absl::StatusOr<functions::InvocationOutput> operator()(const functions::InvocationInput& in) {
    calls.push_back(in.tensors[0].shape(0));
    functions::InvocationOutput out;
    v1::Tensor y = in.tensors[0];
    y.set_name("y");
    std::vector<float> v = FloatValues(y);
    for (float& f : v) f *= 2;
    y.set_raw(v.data(), v.size() * sizeof(float));
    out.tensors.push_back(std::move(y));
    return out;
  }
};

TEST(GetBatchShapeTest, KeyIgnoresFirstDimensionAndSeparatesOtherShapes) {
  const BatchShape a = ShapeOf(Input({1, 64}));
  const BatchShape b = ShapeOf(Input({3, 64}));
  const BatchShape c = ShapeOf(Input({1, 63}));
  EXPECT_EQ(a.key, b.key);
  EXPECT_NE(a.key, c.key);
  EXPECT_EQ(a.rows, 1);
  EXPECT_EQ(b.rows, 3);
}

TEST(GetBatchShapeTest, RefusesWhatCannotBeStacked) {
  functions::InvocationInput raw;
  raw.raw = "body";
  EXPECT_FALSE(GetBatchShape(raw).ok());
  EXPECT_FALSE(GetBatchShape(functions::InvocationInput{}).ok());
  functions::InvocationInput short_bytes = Input({2, 4});
  short_bytes.tensors[0].mutable_raw()->resize(12);
  EXPECT_FALSE(GetBatchShape(short_bytes).ok());
  functions::InvocationInput scalar = Input({1});
  scalar.tensors[0].clear_shape();
  EXPECT_FALSE(GetBatchShape(scalar).ok());
  functions::InvocationInput twice = Input({1, 2});
  twice.tensors.push_back(twice.tensors[0]);
  EXPECT_FALSE(GetBatchShape(twice).ok());
  functions::InvocationInput mixed = Input({1, 2});
  mixed.tensors.push_back(Rows("z", {2, 2}, 0));
  EXPECT_FALSE(GetBatchShape(mixed).ok());
}

TEST(StackSplitTest, RoundTripsRowsInMemberOrder) {
  Result r[2];
  Batch batch;
  batch.push_back(Member(Input({1, 3}, 0), &r[0]));
  batch.push_back(Member(Input({2, 3}, 100), &r[1]));
  absl::StatusOr<functions::InvocationInput> stacked = StackInputs(batch, /*now_us=*/0);
  ASSERT_TRUE(stacked.ok()) << stacked.status();
  ASSERT_EQ(stacked->tensors.size(), 1u);
  EXPECT_EQ(stacked->tensors[0].shape(0), 3);
  EXPECT_EQ(stacked->tensors[0].shape(1), 3);
  EXPECT_EQ(FloatValues(stacked->tensors[0]),
            (std::vector<float>{0, 1, 2, 100, 101, 102, 103, 104, 105}));

  functions::InvocationOutput out;
  out.tensors.push_back(stacked->tensors[0]);
  absl::StatusOr<std::vector<functions::InvocationOutput>> parts = SplitOutput(out, {1, 2});
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(FloatValues((*parts)[0].tensors[0]), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(FloatValues((*parts)[1].tensors[0]),
            (std::vector<float>{100, 101, 102, 103, 104, 105}));
  EXPECT_EQ((*parts)[1].tensors[0].shape(0), 2);
  EXPECT_FALSE(SplitOutput(out, {1, 1}).ok());  // 3 rows for a batch of 2
}

TEST(StackSplitTest, BudgetRunsToTheLatestDeadlineUnlessOneHasNone) {
  Result r[2];
  Batch batch;
  batch.push_back(Member(Input({1, 1}), &r[0]));
  batch.push_back(Member(Input({1, 1}), &r[1]));
  batch[0].deadline_us = 10;
  batch[1].deadline_us = 20;
  EXPECT_EQ(StackInputs(batch, /*now_us=*/5)->budget_us, 15);
  batch[0].deadline_us = 0;
  EXPECT_EQ(StackInputs(batch, /*now_us=*/5)->budget_us, 0);
}

TEST(BatchingQueueTest, FullBatchIsReadyAtOnceAndRespectsMaxBatch) {
  common::FakeClock clock(1000);
  BatchingQueue queue({/*max_batch=*/4, /*max_delay_us=*/500}, clock);
  Result r[6];
  for (int i = 0; i < 3; ++i) {
    functions::InvocationInput in = Input({1, 2});
    EXPECT_TRUE(queue.Add(Member(in, &r[i]), ShapeOf(in)).empty());
  }
  functions::InvocationInput in = Input({1, 2});
  std::vector<Batch> ready = queue.Add(Member(in, &r[3]), ShapeOf(in));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].size(), 4u);
  EXPECT_EQ(queue.pending_members(), 0u);
  EXPECT_FALSE(queue.NextExpiryUs().has_value());

  // 3 rows pending; a 2-row request would make 5 > 4: the 3 go first.
  functions::InvocationInput three = Input({3, 2});
  EXPECT_TRUE(queue.Add(Member(three, &r[4]), ShapeOf(three)).empty());
  functions::InvocationInput two = Input({2, 2});
  ready = queue.Add(Member(two, &r[5]), ShapeOf(two));
  ASSERT_EQ(ready.size(), 1u);
  ASSERT_EQ(ready[0].size(), 1u);
  EXPECT_EQ(ready[0][0].input.tensors[0].shape(0), 3);
  EXPECT_EQ(queue.pending_members(), 1u);
}

TEST(BatchingQueueTest, OldestRequestNeverWaitsPastMaxDelay) {
  common::FakeClock clock(1000);
  BatchingQueue queue({8, 500}, clock);
  Result r[3];
  functions::InvocationInput in = Input({1, 2});
  queue.Add(Member(in, &r[0]), ShapeOf(in));
  clock.AdvanceMicros(200);
  queue.Add(Member(in, &r[1]), ShapeOf(in));
  ASSERT_TRUE(queue.NextExpiryUs().has_value());
  EXPECT_EQ(*queue.NextExpiryUs(), 1500);  // from the oldest member
  clock.AdvanceMicros(299);
  EXPECT_TRUE(queue.TakeExpired().empty());
  clock.AdvanceMicros(1);
  std::vector<Batch> expired = queue.TakeExpired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].size(), 2u);
  EXPECT_EQ(expired[0][0].enqueued_us, 1000);
  EXPECT_EQ(expired[0][1].enqueued_us, 1200);
  // The next request opens a new group with a fresh delay.
  queue.Add(Member(in, &r[2]), ShapeOf(in));
  EXPECT_EQ(*queue.NextExpiryUs(), 1500 + 500);
}

TEST(BatchingQueueTest, DifferentNonBatchShapesAreNotMixed) {
  common::FakeClock clock;
  BatchingQueue queue({2, 100}, clock);
  Result r[3];
  functions::InvocationInput a = Input({1, 64});
  functions::InvocationInput b = Input({1, 32});
  EXPECT_TRUE(queue.Add(Member(a, &r[0]), ShapeOf(a)).empty());
  EXPECT_TRUE(queue.Add(Member(b, &r[1]), ShapeOf(b)).empty());
  std::vector<Batch> ready = queue.Add(Member(a, &r[2]), ShapeOf(a));
  ASSERT_EQ(ready.size(), 1u);
  for (const BatchMember& m : ready[0]) EXPECT_EQ(m.input.tensors[0].shape(1), 64);
  clock.AdvanceMicros(100);
  std::vector<Batch> expired = queue.TakeExpired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0][0].input.tensors[0].shape(1), 32);
}

TEST(RunBatchTest, RunsOnceAndSplitsBack) {
  common::FakeClock clock;
  Doubler doubler;
  Result r[3];
  Batch batch;
  batch.push_back(Member(Input({1, 2}, 0), &r[0]));
  batch.push_back(Member(Input({2, 2}, 10), &r[1]));
  batch.push_back(Member(Input({1, 2}, 20), &r[2]));
  RunBatch(std::move(batch), std::ref(doubler), clock);
  EXPECT_EQ(doubler.calls, (std::vector<int64_t>{4}));
  for (const Result& res : r) {
    ASSERT_TRUE(res.output.ok()) << res.output.status();
    EXPECT_EQ(res.calls, 1);
    EXPECT_EQ(res.info.members, 3);
    EXPECT_EQ(res.info.rows, 4);
  }
  EXPECT_EQ(FloatValues(r[0].output->tensors[0]), (std::vector<float>{0, 2}));
  EXPECT_EQ(FloatValues(r[1].output->tensors[0]), (std::vector<float>{20, 22, 24, 26}));
  EXPECT_EQ(FloatValues(r[2].output->tensors[0]), (std::vector<float>{40, 42}));
}

TEST(RunBatchTest, ErrorGoesToEveryMember) {
  common::FakeClock clock;
  Result r[2];
  Batch batch;
  batch.push_back(Member(Input({1, 2}), &r[0]));
  batch.push_back(Member(Input({1, 2}), &r[1]));
  int calls = 0;
  RunBatch(
      std::move(batch),
      [&](const functions::InvocationInput&) -> absl::StatusOr<functions::InvocationOutput> {
        ++calls;
        return absl::InternalError("kernel exploded");
      },
      clock);
  EXPECT_EQ(calls, 1);
  for (const Result& res : r) {
    EXPECT_EQ(res.calls, 1);
    EXPECT_EQ(res.output.status().code(), absl::StatusCode::kInternal);
    EXPECT_EQ(res.output.status().message(), "kernel exploded");
  }
}

TEST(RunBatchTest, ExpiredMembersDoNotRunAndNonBatchableOutputsRunAlone) {
  common::FakeClock clock(5000);
  Result r[3];
  Batch batch;
  batch.push_back(Member(Input({1, 2}, 1), &r[0]));
  batch.push_back(Member(Input({1, 2}, 2), &r[1]));
  batch.push_back(Member(Input({1, 2}, 3), &r[2]));
  batch[0].deadline_us = 4000;  // already past
  std::vector<int64_t> rows_seen;
  // Returns a single summary row whatever the batch: not batchable.
  auto sum =
      [&](const functions::InvocationInput& in) -> absl::StatusOr<functions::InvocationOutput> {
    rows_seen.push_back(in.tensors[0].shape(0));
    float total = 0;
    for (float f : FloatValues(in.tensors[0])) total += f;
    functions::InvocationOutput out;
    out.tensors.push_back(Rows("s", {1, 1}, total));
    return out;
  };
  RunBatch(std::move(batch), sum, clock);
  EXPECT_EQ(r[0].output.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r[0].info.members, 0);
  // One stacked try (2 rows), then each alone.
  EXPECT_EQ(rows_seen, (std::vector<int64_t>{2, 1, 1}));
  ASSERT_TRUE(r[1].output.ok());
  ASSERT_TRUE(r[2].output.ok());
  EXPECT_EQ(FloatValues(r[1].output->tensors[0]), (std::vector<float>{2 + 3}));
  EXPECT_EQ(FloatValues(r[2].output->tensors[0]), (std::vector<float>{3 + 4}));
}

// The Batcher with a FakeClock: a lone request is dispatched only once the
// fake time passes its delay (Poke makes the timer re-read the clock).
TEST(BatcherTest, DispatchesOnDelayOnlyAfterFakeTimePasses) {
  common::FakeClock clock(0);
  std::atomic<int> dispatched{0};
  auto done = std::make_shared<std::promise<absl::StatusOr<functions::InvocationOutput>>>();
  {
    Batcher batcher(
        {4, 1000}, Doubler(),
        [&](std::function<void()> work) {
          ++dispatched;
          work();
        },
        clock);
    batcher.Submit(Input({1, 2}, 1), /*deadline_us=*/0,
                   [done](absl::StatusOr<functions::InvocationOutput> out, const BatchRunInfo&) {
                     done->set_value(std::move(out));
                   });
    std::future<absl::StatusOr<functions::InvocationOutput>> f = done->get_future();
    batcher.Poke();
    EXPECT_EQ(f.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
    EXPECT_EQ(dispatched.load(), 0);
    clock.AdvanceMicros(1000);
    batcher.Poke();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    absl::StatusOr<functions::InvocationOutput> out = f.get();
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(FloatValues(out->tensors[0]), (std::vector<float>{2, 4}));
  }
  EXPECT_EQ(dispatched.load(), 1);
}

TEST(BatcherTest, DestructorDispatchesPendingRequests) {
  common::FakeClock clock(0);
  Result r;
  {
    Batcher batcher(
        {4, 1'000'000}, Doubler(), [](std::function<void()> work) { work(); }, clock);
    BatchMember m = Member(Input({1, 2}), &r);
    batcher.Submit(std::move(m.input), m.deadline_us, std::move(m.done));
    EXPECT_EQ(batcher.pending_members(), 1u);
  }
  EXPECT_EQ(r.calls, 1);
  EXPECT_TRUE(r.output.ok());
}

TEST(BatcherTest, UnbatchableRequestRunsAloneAtOnce) {
  common::FakeClock clock(0);
  Result r;
  Batcher batcher(
      {4, 1'000'000}, Doubler(), [](std::function<void()> work) { work(); }, clock);
  BatchMember m = Member(Input({6, 2}), &r);  // 6 rows > max_batch 4
  batcher.Submit(std::move(m.input), m.deadline_us, std::move(m.done));
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(batcher.pending_members(), 0u);
}

}  // namespace
}  // namespace stoa::executors
