// MemberHealth: what a PoolExecutor knows about each of its members, kept in
// one place so the pool routes on it and the gateway can report it.
//
// Per member: calls of the pool in flight on it, a down mark (set when it
// answered UNAVAILABLE, until `now + down_us`; cleared by any successful
// answer), the last error that marked it down, and the queue depth of its
// last GetStatus answer, and what the pool predicts from: a moving average
// of its service time (queue + exec of its answers) and of its load time
// (a function loaded there on first use). Time comes from the injected
// Clock, so tests move past a down mark without sleeping.
//
// Slots are numbered from 0 and never move: Add appends one (a member that
// joined a pool), Reset starts a slot afresh (a slot given to a new
// member), so a membership change leaves every other member's state as it
// was. At most kMaxMembers slots.
//
// Thread safety: every method may be called concurrently. The routing reads
// (IsUp, InFlight) are lock-free, Add included (slots live in chunks that
// are never moved); the last error is under a mutex.
// Ownership: the clock must outlive this object.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace stoa::executors {

// A member as seen at one instant (Snapshot).
struct MemberStatus {
  std::string name;  // its Executor::Describe(); filled by PoolExecutor::Members()
  bool up = true;
  int64_t down_until_us = 0;  // Clock time the down mark ends; 0 when not down
  int in_flight = 0;
  int64_t queue_depth = -1;  // from its last GetStatus answer; -1 before one
  double service_ms = 0.0;   // mean service time of its answers; 0 before one
  double load_ms = 0.0;      // mean load time of functions there; 0 before one
  std::string last_error;    // what last marked it down; "" when never
};

class MemberHealth {
 public:
  static constexpr size_t kChunk = 64;
  static constexpr size_t kMaxMembers = kChunk * 1024;

  // `members` slots, all up; a down mark lasts `down_us`.
  MemberHealth(size_t members, int64_t down_us, const common::Clock& clock);
  ~MemberHealth();
  MemberHealth(const MemberHealth&) = delete;
  MemberHealth& operator=(const MemberHealth&) = delete;

  size_t size() const { return size_.load(std::memory_order_acquire); }
  // A new slot, up, with nothing recorded; returns its index. CHECKs
  // kMaxMembers.
  size_t Add();
  // Slot `i` as new (no calls may be in flight on it).
  void Reset(size_t i);
  int64_t NowMicros() const { return clock_.NowMicros(); }

  // Member `i` answered UNAVAILABLE with `error`: skip it until now + down_us.
  void MarkDown(size_t i, const absl::Status& error);
  // Member `i` answered: it is up again.
  void MarkUp(size_t i);
  // Member `i` answered GetStatus: up, and its queue depth is remembered.
  void RecordStatus(size_t i, int64_t queue_depth);
  bool IsUp(size_t i, int64_t now_us) const;

  void CallStarted(size_t i);
  void CallEnded(size_t i);
  int InFlight(size_t i) const;

  // A call on member `i` was served in `us` (queue + exec).
  void RecordService(size_t i, double us);
  // A function took `us` to load on member `i`.
  void RecordLoad(size_t i, double us);
  // The latency a call sent to member `i` now is predicted to see, µs: the
  // calls in flight there and this one, each at its mean service time (the
  // fastest other member's before it answered, so a newcomer is tried; 1 ms
  // before any), plus a load at its mean load time (else the first other
  // member's) when the function is not `warm` there.
  double PredictUs(size_t i, bool warm) const;

  // Every slot, in index order.
  std::vector<MemberStatus> Snapshot() const;
  MemberStatus Status(size_t i) const;

 private:
  struct Slot {
    std::atomic<int> in_flight{0};
    std::atomic<int64_t> down_until_us{0};
    std::atomic<int64_t> queue_depth{-1};
    std::atomic<double> service_us{0.0};
    std::atomic<double> load_us{0.0};
  };

  Slot& slot(size_t i) const {
    return chunks_[i / kChunk].load(std::memory_order_acquire)[i % kChunk];
  }

  std::atomic<size_t> size_{0};
  const int64_t down_us_;
  const common::Clock& clock_;
  // kMaxMembers / kChunk chunk pointers; a chunk is allocated when its first
  // slot is added and freed by the destructor.
  std::unique_ptr<std::atomic<Slot*>[]> chunks_;
  mutable absl::Mutex mu_;
  std::vector<std::string> last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::executors
