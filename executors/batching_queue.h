// Dynamic batching (as in Triton): concurrent requests for one function are
// stacked on their first (batch) dimension, run once, and split back.
//
// Three pieces, each testable alone:
//  - BatchingQueue: the bookkeeping. Requests are grouped by BatchKey (input
//    names, datatypes and every dimension but the first), so requests with
//    different non-batch shapes are never mixed. A group becomes a ready
//    Batch when its rows reach max_batch, or when its oldest request has
//    waited max_delay_us on the injected clock (TakeExpired). A request that
//    would overflow a group closes that group first. Deterministic: time is
//    read only from the clock passed in.
//  - RunBatch: stacks a Batch's inputs, runs them once, splits the outputs
//    by rows and calls every member's `done`. A run error goes to every
//    member. A member whose deadline passed while it waited fails
//    DEADLINE_EXCEEDED without running. When the outputs do not have one
//    row per input row (a function that is not batchable after all), each
//    member is run alone instead, so answers stay correct.
//  - Batcher: a BatchingQueue plus one timer thread that hands batches to a
//    Dispatch callback (the executor's thread pool) when they fill or their
//    delay expires.
//
// Requests that cannot be stacked (no tensors, a raw body, a scalar, a
// tensor whose bytes do not match its shape, duplicate names, inputs with
// different first dimensions) are not batched: BatchKey returns
// INVALID_ARGUMENT and Batcher::Submit dispatches them alone at once, so the
// runtime reports their own errors to them only.
//
// Thread safety: BatchingQueue and Batcher methods may be called from any
// thread. RunBatch is a free function with no shared state.
// Ownership: the clock must outlive the queue / batcher.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "functions/function_runtime.h"

namespace stoa::executors {

struct BatchingOptions {
  // Most rows (sum of the members' first dimensions) in one run; >= 1.
  int64_t max_batch = 1;
  // Longest time a request waits for its batch to fill; 0 = never wait.
  int64_t max_delay_us = 0;
};

// When and how a batch ran, for the members' timings.
struct BatchRunInfo {
  int64_t start_us = 0;  // on the batcher's clock
  int64_t end_us = 0;
  int members = 0;  // requests in the run
  int64_t rows = 0;
};

using BatchDone =
    std::function<void(absl::StatusOr<functions::InvocationOutput>, const BatchRunInfo&)>;

struct BatchMember {
  functions::InvocationInput input;  // budget_us is set when it runs
  int64_t deadline_us = 0;           // on the batcher's clock; 0 = none
  int64_t enqueued_us = 0;           // on the batcher's clock; set by Add/Submit
  BatchDone done;
};

using Batch = std::vector<BatchMember>;

// Runs one (possibly stacked) input; the function's Invoke.
using BatchRunFn =
    std::function<absl::StatusOr<functions::InvocationOutput>(const functions::InvocationInput&)>;

// The grouping key of a request, and its rows (the common first dimension).
struct BatchShape {
  std::string key;
  int64_t rows = 0;
};
// INVALID_ARGUMENT (saying why) when the request cannot be stacked.
absl::StatusOr<BatchShape> GetBatchShape(const functions::InvocationInput& input);

// Stacks members' inputs (all of one BatchKey) on the first dimension, in
// member order, tensors in the first member's order. The budget is what is
// left at now_us of the latest of the members' deadlines (none when any
// has none).
absl::StatusOr<functions::InvocationInput> StackInputs(const Batch& batch, int64_t now_us);

// Splits a stacked output into per-member outputs by `rows`.
// FAILED_PRECONDITION when an output does not have sum(rows) rows.
absl::StatusOr<std::vector<functions::InvocationOutput>> SplitOutput(
    const functions::InvocationOutput& output, const std::vector<int64_t>& rows);

// See the file comment. Calls every member's done exactly once.
void RunBatch(Batch batch, const BatchRunFn& run, const common::Clock& clock);

class BatchingQueue {
 public:
  // max_batch < 1 is treated as 1.
  BatchingQueue(BatchingOptions options, const common::Clock& clock);

  // Adds a member with the given shape (from GetBatchShape); sets
  // enqueued_us. Returns the batches that became ready (0, 1 or 2: a group
  // the member would overflow, then the member's own group if now full).
  std::vector<Batch> Add(BatchMember member, const BatchShape& shape);
  // Groups whose oldest member has waited >= max_delay_us, oldest first.
  std::vector<Batch> TakeExpired();
  // Every pending group (for shutdown).
  std::vector<Batch> TakeAll();
  // Clock time at which the oldest pending group expires; nullopt if none.
  std::optional<int64_t> NextExpiryUs() const;
  size_t pending_members() const;

  const BatchingOptions& options() const { return options_; }

 private:
  struct Group {
    Batch members;
    int64_t rows = 0;
    int64_t oldest_us = 0;
  };

  const BatchingOptions options_;
  const common::Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, Group> groups_ ABSL_GUARDED_BY(mu_);
};

class Batcher {
 public:
  // Runs `work` somewhere (a thread pool). Must not block for long.
  using Dispatch = std::function<void(std::function<void()> work)>;

  // Starts the timer thread. `run` must stay callable until the last
  // dispatched work has run (capture what it needs by value).
  Batcher(BatchingOptions options, BatchRunFn run, Dispatch dispatch, const common::Clock& clock);
  // Stops the timer and dispatches every pending batch at once.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues the request; it runs within max_delay_us (plus dispatch time).
  // deadline_us is on the batcher's clock (0 = none); the run gets what is
  // left of it as InvocationInput::budget_us.
  void Submit(functions::InvocationInput input, int64_t deadline_us, BatchDone done);
  // Wakes the timer thread to re-read the clock (for tests with a FakeClock).
  void Poke();

  size_t pending_members() const { return queue_.pending_members(); }

 private:
  void TimerLoop();
  void DispatchBatches(std::vector<Batch> batches);

  const BatchRunFn run_;
  const Dispatch dispatch_;
  const common::Clock& clock_;
  BatchingQueue queue_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  absl::CondVar cv_;
  std::thread timer_;
};

}  // namespace stoa::executors
