// PoolExecutor: one target served by several executors, e.g. the cloud
// target of `stoa-gateway --cloud host1:50051,host2:50051` or of
// `--target NAME=cloud:cpu:host1:50051,host2:50051` (one GrpcExecutor per
// stoa-executor process). To the dispatcher and the scheduler it is one
// executor.
//
//   Invoke          goes to the member with the lowest predicted latency
//                   (MemberHealth::PredictUs: its calls in flight times its
//                   mean service time, plus a load when the function is not
//                   warm there; ties: round robin), skipping members marked
//                   down. A function the pool knows (from LoadFunction) but
//                   that is not loaded on the chosen member is loaded there
//                   first, on demand, and the load time is added to the
//                   answer's load_us (the caller's cold-start term). A
//                   member that answers UNAVAILABLE is marked down for
//                   Options::down_ms and the call moves to the next member
//                   not yet tried; only when every member failed does the
//                   caller see UNAVAILABLE. A member answering NOT_FOUND for
//                   a function the pool knows gets it loaded again, once.
//                   Other errors (NOT_FOUND for an unknown function,
//                   INVALID_ARGUMENT, DEADLINE_EXCEEDED, CANCELLED) pass
//                   through unchanged.
//   LoadFunction    remembers the request (spec + artifact path or bytes)
//                   and loads it on one member only: the one a call would
//                   go to now. Other members get it at their first call.
//                   The answer is that member's.
//   UnloadFunction  fans out; unloaded = any member unloaded it; the pool
//                   forgets the function (that version, or every version).
//   GetStatus       fans out; over the members that answered: queue_depth =
//                   the smallest (where the next call goes), threads and
//                   invocations summed, loaded functions merged, device of
//                   the first; UNAVAILABLE when none answered. An answer
//                   clears a member's down mark and sets which known
//                   functions are warm there.
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
#include <map>
#include <memory>
#include <optional>
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
  struct Known {
    v1::LoadFunctionRequest load;
    std::vector<bool> warm;  // per member
  };

  static std::string KeyOf(const std::string& function, const std::string& sha256) {
    return function + "@" + sha256;
  }
  // The member for the next try; -1 when every member was tried.
  int Pick(const std::vector<bool>& tried, const std::string& key);
  void Try(std::shared_ptr<Attempt> attempt);
  // Counts a call between its stopping check and its member call (the
  // destructor waits for none); false once stopping. EndStart undoes it.
  bool BeginStart();
  void EndStart();
  absl::Status ShuttingDown() const;
  void Run(std::shared_ptr<Attempt> attempt, int i);
  // Loads the known function `key` on member `i`, then runs the attempt.
  void LoadThenRun(std::shared_ptr<Attempt> attempt, int i, v1::LoadFunctionRequest load);
  // The stored request when `key` is known and not warm on member `i`.
  std::optional<v1::LoadFunctionRequest> NeedsLoad(const std::string& key, size_t i);
  void SetWarm(const std::string& key, size_t i, bool warm);

  const std::vector<ExecutorPtr> members_;
  MemberHealth health_;
  std::atomic<uint64_t> next_{0};

  mutable absl::Mutex known_mu_;
  std::map<std::string, Known> known_ ABSL_GUARDED_BY(known_mu_);

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int starting_ ABSL_GUARDED_BY(mu_) = 0;  // Try()s between their check and their Invoke
};

}  // namespace stoa::executors
