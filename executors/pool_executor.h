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
// Membership changes in place (MemberSetExecutor: etcd announcements,
// dns:/// re-resolution): AddMember and RemoveMember leave every other
// member as it was: its health (down marks, service and load means), the
// functions warm there, its calls in flight. A removed member takes no new
// call; its calls in flight finish (one that fails moves on to another
// member as usual). Each member has a slot (its MemberHealth index); a
// removed member's slot is freed, and its executor destroyed, by a later
// AddMember/RemoveMember or the destructor once no call of the pool holds
// it (never from inside one of its own callbacks), and a freed slot is
// given to the next member that joins. With no member, Invoke and
// LoadFunction answer UNAVAILABLE.
//
// Thread safety: all methods may be called concurrently. Lifetime: owns the
// members; the destructor stops retries (a call whose member fails from then
// on ends UNAVAILABLE) and destroys the members, each of which waits for its
// own calls, before anything their callbacks use.
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

  // `members` may be empty (see AddMember); `clock` must outlive the pool.
  PoolExecutor(std::vector<ExecutorPtr> members, Options options,
               const common::Clock& clock = common::RealClock::Get());
  explicit PoolExecutor(std::vector<ExecutorPtr> members)
      : PoolExecutor(std::move(members), Options()) {}
  ~PoolExecutor() override;

  // Adds `member`, named by its Describe(); it starts with fresh health and
  // no function warm, and the functions the pool knows are loaded on it in
  // the background, one after another (until then it is predicted slower by
  // their load time, so it takes calls only under load). The other members
  // keep their state.
  void AddMember(ExecutorPtr member);
  // Removes the member named `name` (its Describe()): no new call goes to
  // it; see the file comment for its calls in flight. False when there is
  // no such member.
  bool RemoveMember(const std::string& name);

  using Executor::Invoke;
  void Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) override;
  void LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) override;
  void UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) override;
  void GetStatus(StatusCallback done) override;
  // "pool[grpc:a:1,grpc:b:2]".
  std::string Describe() const override;

  // Members now.
  size_t size() const;
  // Every member's health now, in slot order.
  std::vector<MemberStatus> Members() const;

 private:
  struct Attempt;
  struct Known {
    v1::LoadFunctionRequest load;
    std::vector<bool> warm;  // per slot; a slot past the end is not warm
  };
  using MemberRef = std::shared_ptr<Executor>;
  using CallCount = std::shared_ptr<std::atomic<int>>;
  // A member's place. `executor` null: a free slot.
  struct Slot {
    MemberRef executor;
    // The pool's calls on it whose callbacks may still write slot i
    // (invocations, loads, status and unload fan-outs).
    CallCount calls;
    std::string name;
    bool active = false;  // a member now (false: removed, until reaped)
  };
  // A call about to go to a member: its executor (held only until the call
  // is started: a member is destroyed by Reap or the destructor, never by
  // a callback) and its call count, already incremented; the callback
  // decrements it once it is done with slot i.
  struct Use {
    size_t slot = 0;
    MemberRef executor;
    CallCount calls;
  };

  // A Use of slot `i` while it is a member; nullopt otherwise.
  std::optional<Use> MemberAt(size_t i) const;
  // A Use of every member now.
  std::vector<Use> ActiveMembers() const;
  // Loads `loads`, one after another, on the member in slot `i` (AddMember).
  void WarmUp(size_t i, std::shared_ptr<std::vector<v1::LoadFunctionRequest>> loads);
  // Frees the slots of removed members with no call and no other
  // reference; returns their executors, to destroy outside members_mu_.
  std::vector<MemberRef> Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(members_mu_);

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
  // Loads the known function `key` on member `i`, then goes on with
  // LoadNextOrRun.
  void LoadThenRun(std::shared_ptr<Attempt> attempt, int i, const std::string& key,
                   v1::LoadFunctionRequest load);
  // Loads (LoadThenRun) the first of the attempt's functions member i
  // lacks; Run once it has them all.
  void LoadNextOrRun(std::shared_ptr<Attempt> attempt, int i);
  // The stored request when `key` is known and not warm on member `i`.
  std::optional<v1::LoadFunctionRequest> NeedsLoad(const std::string& key, size_t i);
  void SetWarm(const std::string& key, size_t i, bool warm);

  // Declared before the slots: the members' callbacks use all of these, so
  // they must outlive the members (the destructor also empties slots_
  // first).
  MemberHealth health_;
  std::atomic<uint64_t> next_{0};

  mutable absl::Mutex known_mu_;
  std::map<std::string, Known> known_ ABSL_GUARDED_BY(known_mu_);

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int starting_ ABSL_GUARDED_BY(mu_) = 0;  // Try()s between their check and their Invoke

  mutable absl::Mutex members_mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(members_mu_);  // index = MemberHealth slot
};

}  // namespace stoa::executors
