// Intra-op parallelism within a thread budget. An invocation runs its
// kernels with a Parallelism in scope (ScopedParallelism); kernels that
// split work (Conv, MatMul, Gemm, pooling) call ParallelFor, which runs the
// chunks on the calling thread plus up to threads-1 workers of an
// IntraOpPool. With the default budget of 1 everything runs on the calling
// thread, so executors control parallelism by choosing how many invocations
// run at once.
//
// Thread safety: the scope is per thread (thread_local); a pool may be shared
// by any number of invocations.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace stoa::functions::onnx {

struct ChunkJob;

// Workers for ParallelFor. A model runs one kernel after another, each
// split a few ways, often in well under 100 us; waking a sleeping thread for
// each costs the caller a system call and the worker a wake-up that on some
// VMs takes longer than the kernel. So a worker that has just run a chunk
// spins for a short while (kSpin) waiting for the next one before it
// sleeps, as ONNX Runtime's pool does, and the caller wakes a worker only
// when one is asleep.
class IntraOpPool {
 public:
  explicit IntraOpPool(int workers);
  ~IntraOpPool();
  IntraOpPool(const IntraOpPool&) = delete;
  IntraOpPool& operator=(const IntraOpPool&) = delete;

  // Queues `job` for one worker to help with.
  void Offer(std::shared_ptr<ChunkJob> job);
  int size() const { return static_cast<int>(workers_.size()); }

  // How long an idle worker keeps polling for work before it sleeps.
  static constexpr std::chrono::microseconds kSpin{200};

 private:
  void WorkLoop();
  std::shared_ptr<ChunkJob> Take();

  absl::Mutex mu_;
  std::deque<std::shared_ptr<ChunkJob>> jobs_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> pending_{0};  // jobs_.size(), read without the lock
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
};

struct Parallelism {
  IntraOpPool* pool = nullptr;  // null: run on the caller only
  int threads = 1;              // total budget including the caller
};

// Makes `p` the current thread's parallelism until destruction.
class ScopedParallelism {
 public:
  explicit ScopedParallelism(Parallelism p);
  ~ScopedParallelism();
  ScopedParallelism(const ScopedParallelism&) = delete;
  ScopedParallelism& operator=(const ScopedParallelism&) = delete;

 private:
  Parallelism previous_;
};

// The current thread's budget: 1 without a pool.
int ParallelThreads();

// Splits [0, n) into contiguous chunks of at least `min_chunk` items and
// calls fn(begin, end) for each, using the current thread's budget; returns
// when all chunks are done. The caller runs every chunk no worker has
// claimed, so a late worker delays nothing. fn must not throw.
void ParallelFor(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace stoa::functions::onnx
