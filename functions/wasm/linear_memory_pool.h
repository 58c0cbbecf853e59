// Linear memories for the AOT engine (aot_engine.h): each is an address
// space reservation covering every 32-bit address plus 32-bit offset the
// generated code can form, PROT_NONE except for the pages the instance may
// use, so an out-of-bounds access faults instead of needing a check.
// Reservations are reused between instances (instantiation then costs no
// 8 GiB mmap + munmap), and Release zeroes what the instance could have
// written, so every instance starts with zeroed memory as the Wasm spec
// requires. Two ways to make pages usable:
//
//  - Lazy (small instances, the common case): the instance's pages stay
//    PROT_NONE until it touches them; the engine's fault handler calls
//    Commit, which makes that page read-write and records it, and the
//    access is retried. Release then knows exactly which pages the instance
//    could have written and zeroes those with memset: no system call per
//    instance (a reused reservation already has the pages its last module
//    touched, so the same module faults only on its first runs). memory.grow
//    costs nothing either. Past kLazyPages committed pages the reservation
//    turns eager.
//  - Eager: the instance's whole memory is read-write from the start (one
//    mprotect). Release finds the resident pages with mincore and memsets
//    them when few (up to 256 KiB), so the next instance does not fault
//    them in again, else gives them back with madvise(MADV_DONTNEED).
//
// Idle lazy reservations wait first in a few slots taken and returned
// without a lock (an absl::Mutex lock/unlock pair costs about 200 cycles on
// these VMs: with one in Acquire and one in Release, a tenth of a small
// instance's whole set-up); the rest, and eager ones, in lists under a
// mutex.
//
// Thread safety: Acquire and Release may be called from any thread; a
// Reservation belongs to one instance at a time, and Commit and Grow work
// on that instance's copy (Commit is async-signal-safe: it runs in the
// SIGSEGV handler).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace stoa::functions::wasm {

// Linear-memory reservations kept for reuse between instances. Owned (via
// shared_ptr) by the runtime and every AOT function it loaded.
class LinearMemoryPool {
 public:
  // Bytes of address space per reservation: every u32 address + u32 offset.
  static constexpr uint64_t kReserveBytes = (uint64_t{8} << 30) + (64 << 10);
  static constexpr uint64_t kPageBytes = 4096;  // the host's
  // Pages a lazy reservation commits one by one before it turns eager
  // (256 KiB: memset of that many costs about one mincore here).
  static constexpr uint32_t kLazyPages = 64;
  // Memories up to this size start lazy; larger ones eager.
  static constexpr uint64_t kLazyMaxBytes = uint64_t{64} << 20;

  // Idle reservations kept at most `max_idle` (the rest are unmapped).
  explicit LinearMemoryPool(size_t max_idle)
      : max_idle_(max_idle), fast_slots_(std::min(max_idle, kFastSlots)) {}
  ~LinearMemoryPool();
  LinearMemoryPool(const LinearMemoryPool&) = delete;
  LinearMemoryPool& operator=(const LinearMemoryPool&) = delete;

  enum class Mode { kEager, kLazy };

  struct Reservation {
    uint8_t* base = nullptr;
    // [base, base + rw_bytes) is read-write (eager; 0 while lazy).
    uint64_t rw_bytes = 0;
    bool lazy = false;
    // Lazy: the pages (index from base) made read-write by Commit.
    uint32_t committed = 0;
    std::array<uint32_t, kLazyPages> pages{};
  };
  // A reservation whose first `bytes` are zero; base is null when the
  // address space cannot be reserved. kEager: they are read-write now;
  // kLazy (honoured up to kLazyMaxBytes): they become read-write through
  // Commit, except the pages an earlier instance left committed.
  Reservation Acquire(uint64_t bytes, Mode mode = Mode::kEager);
  // Zeroes (memset or MADV_DONTNEED) and keeps or unmaps `r`.
  void Release(Reservation r);

  // The instance touched `offset` (< accessible, its memory's size now) of
  // a lazy reservation: that page becomes read-write (past kLazyPages,
  // [0, accessible) all at once and the reservation turns eager). False
  // when r is not lazy or the offset is out of bounds or mprotect failed.
  // Async-signal-safe.
  static bool Commit(Reservation& r, uint64_t offset, uint64_t accessible);
  // The instance's memory grew to `bytes`: eager reservations make the new
  // pages read-write (lazy ones commit them when touched). False when
  // mprotect failed.
  static bool Grow(Reservation& r, uint64_t bytes);

  // Reservations created with mmap so far (reuse keeps this flat).
  uint64_t created() const;

 private:
  // Lock-free slots for idle lazy reservations (they count toward
  // max_idle): kEmpty -> kBusy -> kFull on Release, kFull -> kBusy ->
  // kEmpty on Acquire; only the thread that moved a slot to kBusy touches
  // its reservation.
  static constexpr size_t kFastSlots = 8;
  enum SlotState : uint32_t { kEmpty, kBusy, kFull };
  struct alignas(64) FastSlot {
    std::atomic<uint32_t> state{kEmpty};
    Reservation r;
  };
  bool TakeFast(Reservation* r);
  bool PutFast(const Reservation& r);

  const size_t max_idle_;
  const size_t fast_slots_;  // min(max_idle_, kFastSlots)
  std::array<FastSlot, kFastSlots> fast_;
  // Reservations idle in the slots and the lists: a Release counts one in
  // before it keeps it (past max_idle_ it unmaps instead), an Acquire that
  // takes one counts it out.
  std::atomic<size_t> idle_{0};
  mutable absl::Mutex mu_;
  std::vector<Reservation> idle_lazy_ ABSL_GUARDED_BY(mu_);
  std::vector<Reservation> idle_eager_ ABSL_GUARDED_BY(mu_);
  uint64_t created_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stoa::functions::wasm
