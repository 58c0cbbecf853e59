#include "functions/onnx/parallel.h"

#include <algorithm>

#include "absl/synchronization/blocking_counter.h"

namespace stoa::functions::onnx {
namespace {
thread_local Parallelism current;
}  // namespace

ScopedParallelism::ScopedParallelism(Parallelism p) : previous_(current) { current = p; }

ScopedParallelism::~ScopedParallelism() { current = previous_; }

void ParallelFor(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const Parallelism p = current;
  int64_t chunks = std::min<int64_t>(p.threads, n / std::max<int64_t>(min_chunk, 1));
  if (p.pool == nullptr || chunks <= 1) {
    fn(0, n);
    return;
  }
  const int64_t step = (n + chunks - 1) / chunks;
  chunks = (n + step - 1) / step;
  absl::BlockingCounter done(static_cast<int>(chunks - 1));
  for (int64_t c = 1; c < chunks; ++c) {
    const int64_t begin = c * step, end = std::min(n, begin + step);
    p.pool->Schedule([&fn, &done, begin, end] {
      // Workers inherit no parallelism: nested ParallelFor runs inline.
      fn(begin, end);
      done.DecrementCount();
    });
  }
  fn(0, std::min(n, step));
  done.Wait();
}

}  // namespace stoa::functions::onnx
