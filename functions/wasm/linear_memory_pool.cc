#include "functions/wasm/linear_memory_pool.h"

#include <sys/mman.h>

#include <cstring>
#include <vector>

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

namespace {

constexpr uint64_t kPage = 4096;
// Up to this many resident bytes are zeroed in place (memset) rather than
// dropped: an instance touches a few pages (stack, data, a small heap), and
// every dropped page is a page fault in the next instance (5 a call for the
// examples, ~1 µs each with the zeroing). Larger memories go back to the
// system with MADV_DONTNEED.
constexpr uint64_t kZeroInPlaceBytes = 256 << 10;
// mincore's vector for memories up to 64 MiB; larger ones are dropped whole.
constexpr uint64_t kScanPages = (64 << 20) / kPage;

// Zeroes the read-write pages of `r`; false when madvise failed.
bool ZeroPages(const LinearMemoryPool::Reservation& r) {
  const uint64_t pages = r.rw_bytes / kPage;
  if (pages <= kScanPages) {
    thread_local std::vector<unsigned char> resident;
    resident.resize(pages);
    if (mincore(r.base, r.rw_bytes, resident.data()) == 0) {
      uint64_t count = 0;
      for (unsigned char page : resident) count += page & 1;
      if (count * kPage <= kZeroInPlaceBytes) {
        for (uint64_t i = 0; i < pages; ++i) {
          if (resident[i] & 1) std::memset(r.base + i * kPage, 0, kPage);
        }
        return true;
      }
    }
  }
  return madvise(r.base, r.rw_bytes, MADV_DONTNEED) == 0;
}

}  // namespace

void LinearMemoryPool::Release(Reservation r) {
  if (r.base == nullptr) return;
  if (r.rw_bytes != 0 && !ZeroPages(r)) {
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
