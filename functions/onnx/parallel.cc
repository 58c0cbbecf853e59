#include "functions/onnx/parallel.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace stoa::functions::onnx {

// One ParallelFor's chunks, claimed one at a time by the caller and by the
// workers it asked for help. A worker that starts after every chunk was
// claimed returns without touching `fn`, so the caller never waits for a
// worker that has not woken up yet: it runs the unclaimed chunks itself and
// waits only for chunks a worker is running. Shared, so a late worker's
// job outlives the call.
struct ChunkJob {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0, step = 0, count = 0;
  std::atomic<int64_t> next{0};     // the next chunk to claim
  std::atomic<int64_t> running{0};  // workers inside Drain, chunk or not

  // Claims and runs chunks until none is left.
  void Drain(bool worker) {
    if (worker) running.fetch_add(1, std::memory_order_acq_rel);
    while (true) {
      const int64_t c = next.fetch_add(1, std::memory_order_acq_rel);
      if (c >= count) break;
      (*fn)(c * step, std::min(n, (c + 1) * step));
    }
    if (worker && running.fetch_sub(1, std::memory_order_acq_rel) == 1) running.notify_all();
  }

  // After the caller's own Drain: every chunk is claimed. A worker counts
  // itself in `running` before it claims, so zero means none is running.
  void WaitForWorkers() {
    for (int64_t r = running.load(std::memory_order_acquire); r != 0;
         r = running.load(std::memory_order_acquire)) {
      running.wait(r, std::memory_order_acquire);
    }
  }
};

namespace {
thread_local Parallelism current;

inline void CpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
}  // namespace

IntraOpPool::IntraOpPool(int workers) {
  workers_.reserve(std::max(workers, 1));
  for (int i = 0; i < std::max(workers, 1); ++i) workers_.emplace_back([this] { WorkLoop(); });
}

IntraOpPool::~IntraOpPool() {
  stopping_.store(true, std::memory_order_seq_cst);
  pending_.fetch_add(1, std::memory_order_seq_cst);  // wakes sleepers; Take finds nothing
  pending_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void IntraOpPool::Offer(std::shared_ptr<ChunkJob> job) {
  {
    absl::MutexLock lock(&mu_);
    jobs_.push_back(std::move(job));
  }
  // seq_cst against the worker's sleeping_ increment and pending_ check:
  // either it sees this job or this sees it asleep.
  pending_.fetch_add(1, std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_seq_cst) > 0) pending_.notify_one();
}

std::shared_ptr<ChunkJob> IntraOpPool::Take() {
  absl::MutexLock lock(&mu_);
  if (jobs_.empty()) return nullptr;
  std::shared_ptr<ChunkJob> job = std::move(jobs_.front());
  jobs_.pop_front();
  pending_.fetch_sub(1, std::memory_order_seq_cst);
  return job;
}

void IntraOpPool::WorkLoop() {
  using Clock = std::chrono::steady_clock;
  while (!stopping_.load(std::memory_order_acquire)) {
    if (pending_.load(std::memory_order_acquire) > 0) {
      // Workers run no nested parallelism: `current` is empty here.
      if (std::shared_ptr<ChunkJob> job = Take()) job->Drain(/*worker=*/true);
      continue;
    }
    const Clock::time_point until = Clock::now() + kSpin;
    bool found = false;
    for (int i = 0; !found; ++i) {
      CpuRelax();
      found = pending_.load(std::memory_order_acquire) > 0;
      if ((i & 63) == 63 && Clock::now() >= until) break;
    }
    if (found) continue;
    sleeping_.fetch_add(1, std::memory_order_seq_cst);
    if (pending_.load(std::memory_order_seq_cst) <= 0 &&
        !stopping_.load(std::memory_order_seq_cst)) {
      pending_.wait(0, std::memory_order_seq_cst);
    }
    sleeping_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

ScopedParallelism::ScopedParallelism(Parallelism p) : previous_(current) { current = p; }

ScopedParallelism::~ScopedParallelism() { current = previous_; }

int ParallelThreads() { return current.pool != nullptr ? std::max(current.threads, 1) : 1; }

void ParallelFor(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const Parallelism p = current;
  const int64_t chunks = std::min<int64_t>(p.threads, n / std::max<int64_t>(min_chunk, 1));
  if (p.pool == nullptr || chunks <= 1) {
    fn(0, n);
    return;
  }
  auto job = std::make_shared<ChunkJob>();
  job->fn = &fn;
  job->n = n;
  job->step = (n + chunks - 1) / chunks;
  job->count = (n + job->step - 1) / job->step;
  const int64_t helpers = std::min<int64_t>(job->count - 1, p.pool->size());
  for (int64_t h = 0; h < helpers; ++h) p.pool->Offer(job);
  job->Drain(/*worker=*/false);
  job->WaitForWorkers();
}

}  // namespace stoa::functions::onnx
