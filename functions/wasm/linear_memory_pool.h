// Linear memories for the AOT engine (aot_engine.h): each is an address
// space reservation covering every 32-bit address plus 32-bit offset the
// generated code can form, PROT_NONE except for the instance's current
// pages, so an out-of-bounds access faults instead of needing a check.
// Reservations are reused between instances (instantiation then costs an
// mprotect instead of an 8 GiB mmap + munmap): Release zeroes the used pages,
// so every instance starts with zeroed memory as the Wasm spec requires —
// the few resident pages of a small instance (up to 256 KiB, found with
// mincore) with memset, so the next instance does not fault them in again;
// more than that with madvise(MADV_DONTNEED), which gives the RAM back.
//
// Thread safety: Acquire and Release may be called from any thread.
#pragma once

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

  explicit LinearMemoryPool(size_t max_idle) : max_idle_(max_idle) {}
  ~LinearMemoryPool();
  LinearMemoryPool(const LinearMemoryPool&) = delete;
  LinearMemoryPool& operator=(const LinearMemoryPool&) = delete;

  struct Reservation {
    uint8_t* base = nullptr;
    uint64_t rw_bytes = 0;  // [base, base + rw_bytes) is read-write
  };
  // A reservation whose first `bytes` are read-write and zero; base is null
  // when the address space cannot be reserved.
  Reservation Acquire(uint64_t bytes);
  // Zeroes (memset or MADV_DONTNEED) and keeps or unmaps `r`.
  void Release(Reservation r);

  // Reservations created with mmap so far (reuse keeps this flat).
  uint64_t created() const;

 private:
  const size_t max_idle_;
  mutable absl::Mutex mu_;
  std::vector<Reservation> idle_ ABSL_GUARDED_BY(mu_);
  uint64_t created_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stoa::functions::wasm
