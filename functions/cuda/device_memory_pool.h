// A caching pool over a raw device allocator (cudaMalloc/cudaFree in the
// CUDA backend; any RawAllocator in tests), so steady-state invocations do
// not call the driver: freed blocks are kept by size class (powers of two
// from 256 bytes) and handed out again.
//
// Allocate returns a block of at least `bytes`; Release gives it back to the
// cache. When the cache would exceed `max_cached_bytes`, the released block
// is freed to the raw allocator instead. Trim frees every cached block.
// The destructor frees the cache; blocks still out are the caller's bug
// (STOA_CHECK).
//
// Errors: RESOURCE_EXHAUSTED from the raw allocator is passed on after one
// retry with the cache trimmed (a device out of memory for one request is
// an error for that request, not a crash).
//
// Thread safety: Allocate, Release, Trim and stats may be called
// concurrently. Ownership: the raw allocator must outlive the pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace stoa::functions::cuda {

class RawAllocator {
 public:
  virtual ~RawAllocator() = default;
  virtual absl::StatusOr<void*> Allocate(size_t bytes) = 0;
  virtual void Free(void* ptr) = 0;
};

struct PoolBlock {
  void* ptr = nullptr;
  size_t bytes = 0;  // the size class, >= what was asked
};

struct PoolStats {
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;
  uint64_t raw_allocations = 0;  // calls that reached the raw allocator
  uint64_t hits = 0;             // allocations served from the cache
};

class DeviceMemoryPool {
 public:
  DeviceMemoryPool(RawAllocator& raw, size_t max_cached_bytes);
  ~DeviceMemoryPool();
  DeviceMemoryPool(const DeviceMemoryPool&) = delete;
  DeviceMemoryPool& operator=(const DeviceMemoryPool&) = delete;

  // The size class for a request: the next power of two, at least 256.
  static size_t SizeClass(size_t bytes);

  absl::StatusOr<PoolBlock> Allocate(size_t bytes);
  void Release(PoolBlock block);
  void Trim();
  PoolStats stats() const;

 private:
  RawAllocator& raw_;
  const size_t max_cached_bytes_;
  mutable absl::Mutex mu_;
  std::map<size_t, std::vector<void*>> cache_ ABSL_GUARDED_BY(mu_);
  PoolStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::functions::cuda
