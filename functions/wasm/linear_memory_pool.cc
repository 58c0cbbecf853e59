#include "functions/wasm/linear_memory_pool.h"

#include <sys/mman.h>

namespace stoa::functions::wasm {

LinearMemoryPool::~LinearMemoryPool() {
  for (const Reservation& r : idle_) munmap(r.base, kReserveBytes);
}

LinearMemoryPool::Reservation LinearMemoryPool::Acquire(uint64_t bytes) {
  Reservation r;
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      r = idle_.back();
      idle_.pop_back();
    }
  }
  if (r.base == nullptr) {
    void* p =
        mmap(nullptr, kReserveBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return {};
    r.base = static_cast<uint8_t*>(p);
    absl::MutexLock lock(&mu_);
    ++created_;
  }
  int rc = 0;
  if (r.rw_bytes < bytes) {
    rc = mprotect(r.base + r.rw_bytes, bytes - r.rw_bytes, PROT_READ | PROT_WRITE);
  } else if (r.rw_bytes > bytes) {
    rc = mprotect(r.base + bytes, r.rw_bytes - bytes, PROT_NONE);
  }
  if (rc != 0) {
    munmap(r.base, kReserveBytes);
    return {};
  }
  r.rw_bytes = bytes;
  return r;
}

void LinearMemoryPool::Release(Reservation r) {
  if (r.base == nullptr) return;
  if (r.rw_bytes != 0 && madvise(r.base, r.rw_bytes, MADV_DONTNEED) != 0) {
    munmap(r.base, kReserveBytes);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(r);
      return;
    }
  }
  munmap(r.base, kReserveBytes);
}

uint64_t LinearMemoryPool::created() const {
  absl::MutexLock lock(&mu_);
  return created_;
}

}  // namespace stoa::functions::wasm
