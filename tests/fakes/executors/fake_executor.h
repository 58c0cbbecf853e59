// FakeExecutor: a small real Executor for dispatcher and tier tests. It
// keeps a loaded set (answers NOT_FOUND for a version it lacks, as an
// executor that restarted does), echoes the request's inputs, and reports
// fixed timings (queue 10 µs, exec 100 µs, load 777 µs, queue depth 3;
// GetStatus: depth 5 unless set, threads 1, the invocations answered OK).
//
// Answers are synchronous by default (on the caller's thread), so tests are
// deterministic and never sleep; with Options::threads > 0 they come from a
// pool of that many threads. Hold() parks invocations until Release() (or
// until their CancelSignal fires: they end CANCELLED at once); a scripted
// status makes every call of a kind fail. With a FakeClock, GetStatus
// advances it by Options::status_rtt_us (a probe's round trip).
//
// Thread safety: every method may be called concurrently. The destructor
// answers held calls with UNAVAILABLE.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/thread_pool.h"
#include "executors/executor.h"

namespace stoa::executors {

class FakeExecutor final : public Executor {
 public:
  struct Options {
    size_t threads = 0;  // 0: answer on the caller's thread
    common::FakeClock* clock = nullptr;
    int64_t status_rtt_us = 0;
    // false: invoke whatever was loaded (a member of a pool under test).
    bool require_loaded = true;
  };
  // Call counts; shared, so a test can read them after the executor's owner
  // destroyed it.
  struct Counts {
    std::atomic<int> load{0}, invoke{0}, unload{0}, status{0}, cancelled{0};
  };

  FakeExecutor(std::string name, Options options);
  explicit FakeExecutor(std::string name) : FakeExecutor(std::move(name), Options()) {}
  ~FakeExecutor() override;

  using Executor::Invoke;
  void Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) override;
  void LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) override;
  void UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) override;
  void GetStatus(StatusCallback done) override;
  std::string Describe() const override { return name_; }

  // Scripted failures (OK: succeed).
  void SetInvokeStatus(absl::Status s);
  void SetLoadStatus(absl::Status s);
  void SetStatusStatus(absl::Status s);
  void SetStatusDepth(uint32_t depth);
  // Parks invocations from now on, until Release.
  void Hold();
  // Stops holding and answers the parked invocations (with `status` when
  // not OK, else normally).
  void Release(absl::Status status = absl::OkStatus());
  int held() const;
  // Forgets every loaded function (a restart).
  void Restart();

  std::shared_ptr<const Counts> counts() const { return counts_; }
  uint32_t last_timeout_ms() const;

 private:
  struct Held {
    v1::InvokeRequest request;
    InvokeCallback done;
    CancelSignalPtr cancel;
  };
  void Answer(std::function<void()> answer);
  void Finish(v1::InvokeRequest request, InvokeCallback done, absl::Status status);

  const std::string name_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> loaded_ ABSL_GUARDED_BY(mu_);
  absl::Status invoke_status_ ABSL_GUARDED_BY(mu_);
  absl::Status load_status_ ABSL_GUARDED_BY(mu_);
  absl::Status status_status_ ABSL_GUARDED_BY(mu_);
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::shared_ptr<Held>> held_ ABSL_GUARDED_BY(mu_);
  uint32_t last_timeout_ms_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t status_depth_ ABSL_GUARDED_BY(mu_) = 5;
  uint64_t answered_ok_ ABSL_GUARDED_BY(mu_) = 0;
  const std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  common::ThreadPool cancel_pool_{1};         // answers cancelled calls
  std::unique_ptr<common::ThreadPool> pool_;  // last: joined first
};

}  // namespace stoa::executors
