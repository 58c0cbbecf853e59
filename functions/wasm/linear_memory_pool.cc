#include "functions/wasm/linear_memory_pool.h"

#include <sys/mman.h>

#include <cstring>
#include <vector>

namespace stoa::functions::wasm {

LinearMemoryPool::~LinearMemoryPool() {
  for (const auto* idle : {&idle_lazy_, &idle_eager_}) {
    for (const Reservation& r : *idle) munmap(r.base, kReserveBytes);
  }
  for (FastSlot& slot : fast_) {
    if (slot.state.load(std::memory_order_acquire) == kFull) munmap(slot.r.base, kReserveBytes);
  }
}

bool LinearMemoryPool::TakeFast(Reservation* r) {
  for (size_t i = 0; i < fast_slots_; ++i) {
    uint32_t expected = kFull;
    if (fast_[i].state.compare_exchange_strong(expected, kBusy, std::memory_order_acquire)) {
      *r = fast_[i].r;
      fast_[i].state.store(kEmpty, std::memory_order_release);
      idle_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

bool LinearMemoryPool::PutFast(const Reservation& r) {
  for (size_t i = 0; i < fast_slots_; ++i) {
    uint32_t expected = kEmpty;
    if (fast_[i].state.compare_exchange_strong(expected, kBusy, std::memory_order_acquire)) {
      fast_[i].r = r;
      fast_[i].state.store(kFull, std::memory_order_release);
      return true;
    }
  }
  return false;
}

namespace {

bool Protect(uint8_t* p, uint64_t bytes, int prot) { return mprotect(p, bytes, prot) == 0; }

constexpr int kReadWrite = PROT_READ | PROT_WRITE;

// A lazy reservation for a memory of `bytes`: the pages an earlier instance
// committed at or past `bytes` become inaccessible again (they are zero).
bool KeepCommittedBelow(LinearMemoryPool::Reservation& r, uint64_t bytes) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < r.committed; ++i) {
    const uint64_t at = uint64_t{r.pages[i]} * LinearMemoryPool::kPageBytes;
    if (at < bytes) {
      r.pages[kept++] = r.pages[i];
    } else if (!Protect(r.base + at, LinearMemoryPool::kPageBytes, PROT_NONE)) {
      return false;
    }
  }
  r.committed = kept;
  return true;
}

}  // namespace

LinearMemoryPool::Reservation LinearMemoryPool::Acquire(uint64_t bytes, Mode mode) {
  const bool want_lazy = mode == Mode::kLazy && bytes <= kLazyMaxBytes;
  Reservation r;
  if (!want_lazy || !TakeFast(&r)) {
    absl::MutexLock lock(&mu_);
    std::vector<Reservation>* first = want_lazy ? &idle_lazy_ : &idle_eager_;
    std::vector<Reservation>* second = want_lazy ? &idle_eager_ : &idle_lazy_;
    for (std::vector<Reservation>* idle : {first, second}) {
      if (!idle->empty()) {
        r = idle->back();
        idle->pop_back();
        idle_.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
    }
  }
  if (r.base == nullptr && !want_lazy) TakeFast(&r);
  if (r.base == nullptr) {
    void* p =
        mmap(nullptr, kReserveBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return {};
    r.base = static_cast<uint8_t*>(p);
    r.lazy = want_lazy;
    absl::MutexLock lock(&mu_);
    ++created_;
  }
  bool ok = true;
  if (r.lazy) {
    ok = KeepCommittedBelow(r, bytes);
    if (ok && want_lazy) return r;
    // An eager memory on a lazy reservation: all of it read-write now.
    r.lazy = false;
    r.committed = 0;
    r.rw_bytes = 0;
  }
  if (ok && r.rw_bytes < bytes) {
    ok = Protect(r.base + r.rw_bytes, bytes - r.rw_bytes, kReadWrite);
  } else if (ok && r.rw_bytes > bytes) {
    ok = Protect(r.base + bytes, r.rw_bytes - bytes, PROT_NONE);
  }
  if (!ok) {
    munmap(r.base, kReserveBytes);
    return {};
  }
  r.rw_bytes = bytes;
  return r;
}

bool LinearMemoryPool::Commit(Reservation& r, uint64_t offset, uint64_t accessible) {
  if (!r.lazy || offset >= accessible) return false;
  if (r.committed < kLazyPages) {
    const uint64_t page = offset / kPageBytes;
    if (!Protect(r.base + page * kPageBytes, kPageBytes, kReadWrite)) return false;
    r.pages[r.committed++] = static_cast<uint32_t>(page);
    return true;
  }
  // Too many pages to track one by one: the whole memory, as eager.
  if (!Protect(r.base, accessible, kReadWrite)) return false;
  r.lazy = false;
  r.committed = 0;
  r.rw_bytes = accessible;
  return true;
}

bool LinearMemoryPool::Grow(Reservation& r, uint64_t bytes) {
  if (r.lazy || bytes <= r.rw_bytes) return true;
  if (!Protect(r.base + r.rw_bytes, bytes - r.rw_bytes, kReadWrite)) return false;
  r.rw_bytes = bytes;
  return true;
}

namespace {

// Up to this many resident bytes of an eager memory are zeroed in place
// (memset) rather than dropped: an instance touches a few pages (stack,
// data, a small heap), and every dropped page is a page fault in the next
// instance. Larger memories go back to the system with MADV_DONTNEED.
constexpr uint64_t kZeroInPlaceBytes = 256 << 10;
// mincore's vector for memories up to 64 MiB; larger ones are dropped whole.
constexpr uint64_t kScanPages = (64 << 20) / LinearMemoryPool::kPageBytes;

// Zeroes the read-write pages of an eager `r`; false when madvise failed.
bool ZeroPages(const LinearMemoryPool::Reservation& r) {
  constexpr uint64_t kPage = LinearMemoryPool::kPageBytes;
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
  if (r.lazy) {
    // Exactly the pages the instance could have written (no system call).
    for (uint32_t i = 0; i < r.committed; ++i) {
      std::memset(r.base + uint64_t{r.pages[i]} * kPageBytes, 0, kPageBytes);
    }
  } else if (r.rw_bytes != 0 && !ZeroPages(r)) {
    munmap(r.base, kReserveBytes);
    return;
  }
  // A place among the max_idle_ idle ones, in a fast slot or a list.
  if (idle_.fetch_add(1, std::memory_order_relaxed) >= max_idle_) {
    idle_.fetch_sub(1, std::memory_order_relaxed);
    munmap(r.base, kReserveBytes);
    return;
  }
  if (r.lazy && PutFast(r)) return;
  absl::MutexLock lock(&mu_);
  (r.lazy ? idle_lazy_ : idle_eager_).push_back(r);
}

uint64_t LinearMemoryPool::created() const {
  absl::MutexLock lock(&mu_);
  return created_;
}

}  // namespace stoa::functions::wasm
