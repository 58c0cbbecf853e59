// A fixed-size pool of worker threads running closures in FIFO order.
//
// Thread safety: Schedule may be called from any thread. The destructor
// runs every closure already scheduled, then joins the workers.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace stoa::common {

class ThreadPool {
 public:
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> fn);
  // Closures waiting for a worker (not counting running ones).
  size_t QueueDepth() const;
  size_t size() const { return workers_.size(); }

 private:
  void WorkLoop();

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace stoa::common
