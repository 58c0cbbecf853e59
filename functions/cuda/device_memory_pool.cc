#include "functions/cuda/device_memory_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace stoa::functions::cuda {

DeviceMemoryPool::DeviceMemoryPool(RawAllocator& raw, size_t max_cached_bytes)
    : raw_(raw), max_cached_bytes_(max_cached_bytes) {}

DeviceMemoryPool::~DeviceMemoryPool() {
  Trim();
  absl::MutexLock lock(&mu_);
  STOA_CHECK(stats_.bytes_in_use == 0, "DeviceMemoryPool destroyed with blocks still out");
}

size_t DeviceMemoryPool::SizeClass(size_t bytes) {
  size_t size = 256;
  while (size < bytes) size <<= 1;
  return size;
}

absl::StatusOr<PoolBlock> DeviceMemoryPool::Allocate(size_t bytes) {
  if (bytes > (size_t{1} << 40)) {
    return absl::ResourceExhaustedError(absl::StrCat("device allocation of ", bytes, " bytes"));
  }
  PoolBlock block;
  block.bytes = SizeClass(bytes);
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(block.bytes);
    if (it != cache_.end() && !it->second.empty()) {
      block.ptr = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= block.bytes;
      stats_.bytes_in_use += block.bytes;
      ++stats_.hits;
      return block;
    }
    ++stats_.raw_allocations;
  }
  absl::StatusOr<void*> ptr = raw_.Allocate(block.bytes);
  if (!ptr.ok()) {
    Trim();
    ptr = raw_.Allocate(block.bytes);
    if (!ptr.ok()) return ptr.status();
  }
  block.ptr = *ptr;
  absl::MutexLock lock(&mu_);
  stats_.bytes_in_use += block.bytes;
  return block;
}

void DeviceMemoryPool::Release(PoolBlock block) {
  if (block.ptr == nullptr) return;
  {
    absl::MutexLock lock(&mu_);
    STOA_CHECK(stats_.bytes_in_use >= block.bytes,
               "DeviceMemoryPool::Release of a block it did not hand out");
    stats_.bytes_in_use -= block.bytes;
    if (stats_.bytes_cached + block.bytes <= max_cached_bytes_) {
      cache_[block.bytes].push_back(block.ptr);
      stats_.bytes_cached += block.bytes;
      return;
    }
  }
  raw_.Free(block.ptr);
}

void DeviceMemoryPool::Trim() {
  std::map<size_t, std::vector<void*>> cache;
  {
    absl::MutexLock lock(&mu_);
    cache.swap(cache_);
    stats_.bytes_cached = 0;
  }
  for (auto& [size, ptrs] : cache) {
    for (void* p : ptrs) raw_.Free(p);
  }
}

PoolStats DeviceMemoryPool::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace stoa::functions::cuda
