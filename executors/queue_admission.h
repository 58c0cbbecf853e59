// Admission to an executor's queue (docs/limits.md § Admission control):
// an Invoke that would wait for a worker is refused at once, before it is
// queued, when
//   - the queue is full: `queued` ≥ the limit (Options::max_queue of the
//     InProcessExecutor; 0: 4 per worker), "… (executor queue limit)"; or
//   - its deadline cannot be met given the queue ahead of it: with every
//     worker busy (running + queued ≥ workers) and a = running + queued −
//     workers calls ahead, it starts after about ceil((a + 1) / workers)
//     runs of the mean service time (EWMA; the running ones are taken as
//     just started) and then runs about as long; past `budget_us`:
//     "… (executor queue wait)".
// Both are RESOURCE_EXHAUSTED; the gateway recognises them
// (common::IsExecutorSaturated) and answers a saturated tier (fail over,
// else 503 with Retry-After). With a worker free a call is always taken.
//
// Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace stoa::executors {

struct QueueState {
  int64_t queued = 0;   // invocations waiting for a worker now
  int64_t running = 0;  // invocations a worker runs now
  size_t workers = 1;
  size_t max_queue = 0;          // 0: 4 per worker
  double mean_service_us = 0.0;  // 0: unknown (no wait check)
};

// The queue limit `state` stands for (max_queue, or 4 per worker).
size_t QueueLimit(const QueueState& state);

// OK, or RESOURCE_EXHAUSTED naming the limit. `budget_us` 0: no deadline.
absl::Status AdmitToQueue(const QueueState& state, const std::string& function, int64_t budget_us);

}  // namespace stoa::executors
