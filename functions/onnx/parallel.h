// Intra-op parallelism within a thread budget. An invocation runs its
// kernels with a Parallelism in scope (ScopedParallelism); kernels that
// split work (Conv, MatMul, Gemm, pooling) call ParallelFor, which runs the
// chunks on the calling thread plus up to threads-1 workers of a shared pool.
// With the default budget of 1 everything runs on the calling thread, so
// executors control parallelism by choosing how many invocations run at once.
//
// Thread safety: the scope is per thread (thread_local); a pool may be shared
// by any number of invocations.
#pragma once

#include <cstdint>
#include <functional>

#include "common/thread_pool.h"

namespace stoa::functions::onnx {

struct Parallelism {
  common::ThreadPool* pool = nullptr;  // null: run on the caller only
  int threads = 1;                     // total budget including the caller
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

// Splits [0, n) into contiguous chunks of at least `min_chunk` items and
// calls fn(begin, end) for each, using the current thread's budget; returns
// when all chunks are done. fn must not throw.
void ParallelFor(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace stoa::functions::onnx
