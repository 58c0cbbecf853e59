// InProcessExecutor's record of one loaded function version, shared by
// its invocation side (in_process_executor.cc) and its loading side
// (in_process_executor_load.cc). Internal to the executor.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "executors/batching_queue.h"
#include "executors/in_process_executor.h"
#include "functions/function_runtime.h"

namespace stoa::executors {

struct InProcessExecutor::Entry {
  std::string function;
  std::string sha256;
  uint64_t sequence = 0;
  // Shared with the batcher's dispatched work, which may outlive the entry.
  std::shared_ptr<functions::LoadedFunction> fn;
  // Set when spec.batching.max_batch > 1. Declared after fn: destroyed first.
  std::unique_ptr<Batcher> batcher;
  std::atomic<uint64_t> invocations{0};
  // Cached metric handles (null without a registry): Family::Add locks. Set
  // by Install; they outlive the removal of their series at unload.
  common::metrics::CounterPtr ok_counter;
  common::metrics::HistogramPtr exec_seconds;
  common::metrics::HistogramPtr queue_seconds;
};

}  // namespace stoa::executors
