// PoolExecutor: one tier served by several executors, e.g. the cloud tier
// of `stoa-gateway --cloud host1:50051,host2:50051` (one GrpcExecutor per
// stoa-executor process). To the dispatcher and the scheduler it is one
// executor.
//
//   Invoke          goes to the member with the fewest of this pool's calls
//                   in flight (ties: round robin), skipping members marked
//                   down. A member that answers UNAVAILABLE is marked down
//                   for Options::down_ms and the call moves to the next
//                   member not yet tried; only when every member failed does
//                   the caller see UNAVAILABLE. Other errors (NOT_FOUND: the
//                   member lacks the function, the caller pushes it again;
//                   INVALID_ARGUMENT; DEADLINE_EXCEEDED; CANCELLED) pass
//                   through unchanged.
//   LoadFunction    fans out to every member, so any member can serve the
//                   function: succeeds when at least one member loaded it
//                   (already_loaded = every successful member already had
//                   it; load_us = the slowest successful load), fails with
//                   the first error when none did. A member that was down
//                   gets the function on its next NOT_FOUND.
//   UnloadFunction  fans out; unloaded = any member unloaded it.
//   GetStatus       fans out; over the members that answered: queue_depth =
//                   the smallest (where the next call goes), threads and
//                   invocations summed, loaded functions merged, device of
//                   the first; UNAVAILABLE when none answered. An answer
//                   clears a member's down mark.
//
// Member health (in flight, down marks, last error, last queue depth) lives
// in a MemberHealth (member_health.h) on the injected Clock; Members()
// reports it, e.g. for the gateway's view of a tier.
//
// Thread safety: all methods may be called concurrently. Lifetime: owns the
// members; the destructor stops retries (a call whose member fails from then
// on ends UNAVAILABLE) and destroys the members, each of which waits for its
// own calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "executors/executor.h"
#include "executors/member_health.h"

namespace stoa::executors {

class PoolExecutor final : public Executor {
 public:
  struct Options {
    // How long a member that answered UNAVAILABLE is skipped.
    int down_ms = 1000;
  };

  // `members` must not be empty; `clock` must outlive the pool.
  PoolExecutor(std::vector<ExecutorPtr> members, Options options,
               const common::Clock& clock = common::RealClock::Get());
  explicit PoolExecutor(std::vector<ExecutorPtr> members)
      : PoolExecutor(std::move(members), Options()) {}
  ~PoolExecutor() override;

  using Executor::Invoke;
  void Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) override;
  void LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) override;
  void UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) override;
  void GetStatus(StatusCallback done) override;
  // "pool[grpc:a:1,grpc:b:2]".
  std::string Describe() const override;

  size_t size() const { return members_.size(); }
  // Every member's health now, in member order.
  std::vector<MemberStatus> Members() const;

 private:
  struct Attempt;

  // The member for the next try of `attempt`; -1 when every member was tried.
  int Pick(const std::vector<bool>& tried);
  void Try(std::shared_ptr<Attempt> attempt);

  const std::vector<ExecutorPtr> members_;
  MemberHealth health_;
  std::atomic<uint64_t> next_{0};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int starting_ ABSL_GUARDED_BY(mu_) = 0;  // Try()s between their check and their Invoke
};

}  // namespace stoa::executors
