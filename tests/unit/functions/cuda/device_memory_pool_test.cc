// DeviceMemoryPool over a host RawAllocator: caching, size classes, the cache cap
// and the out-of-memory retry.
#include "functions/cuda/device_memory_pool.h"

#include <cstdlib>
#include <map>

#include "gtest/gtest.h"

namespace stoa::functions::cuda {
namespace {

// malloc-backed, with a byte budget to simulate a full device.
class HostAllocator final : public RawAllocator {
 public:
  explicit HostAllocator(size_t budget) : budget_(budget) {}
  absl::StatusOr<void*> Allocate(size_t bytes) override {
    if (used_ + bytes > budget_) return absl::ResourceExhaustedError("out of device memory");
    used_ += bytes;
    ++allocations;
    void* p = std::malloc(bytes);
    sizes_[p] = bytes;
    return p;
  }
  void Free(void* ptr) override {
    used_ -= sizes_.at(ptr);
    sizes_.erase(ptr);
    ++frees;
    std::free(ptr);
  }
  size_t used() const { return used_; }
  int allocations = 0;
  int frees = 0;

 private:
  size_t budget_;
  size_t used_ = 0;
  std::map<void*, size_t> sizes_;
};

TEST(DeviceMemoryPoolTest, SizeClasses) {
  EXPECT_EQ(DeviceMemoryPool::SizeClass(1), 256u);
  EXPECT_EQ(DeviceMemoryPool::SizeClass(256), 256u);
  EXPECT_EQ(DeviceMemoryPool::SizeClass(257), 512u);
  EXPECT_EQ(DeviceMemoryPool::SizeClass(5000), 8192u);
}

TEST(DeviceMemoryPoolTest, ReleasedBlocksAreReusedWithoutTheRawAllocator) {
  HostAllocator raw(1 << 20);
  {
    DeviceMemoryPool pool(raw, 1 << 20);
    auto a = pool.Allocate(1000);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->bytes, 1024u);
    void* first = a->ptr;
    pool.Release(*a);
    EXPECT_EQ(pool.stats().bytes_cached, 1024u);
    auto b = pool.Allocate(900);  // same class
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->ptr, first);
    EXPECT_EQ(raw.allocations, 1);
    EXPECT_EQ(pool.stats().hits, 1u);
    auto c = pool.Allocate(900);  // the cached one is out: a new block
    ASSERT_TRUE(c.ok());
    EXPECT_NE(c->ptr, b->ptr);
    EXPECT_EQ(pool.stats().bytes_in_use, 2048u);
    pool.Release(*b);
    pool.Release(*c);
  }
  EXPECT_EQ(raw.used(), 0u);  // the destructor freed the cache
}

TEST(DeviceMemoryPoolTest, CacheIsCapped) {
  HostAllocator raw(1 << 20);
  DeviceMemoryPool pool(raw, 1024);
  auto a = pool.Allocate(1024);
  auto b = pool.Allocate(1024);
  ASSERT_TRUE(a.ok() && b.ok());
  pool.Release(*a);
  pool.Release(*b);  // over the cap: freed
  EXPECT_EQ(pool.stats().bytes_cached, 1024u);
  EXPECT_EQ(raw.frees, 1);
}

TEST(DeviceMemoryPoolTest, OutOfMemoryTrimsTheCacheAndRetriesThenFailsCleanly) {
  HostAllocator raw(4096);
  DeviceMemoryPool pool(raw, 1 << 20);
  auto small = pool.Allocate(2048);
  ASSERT_TRUE(small.ok());
  pool.Release(*small);            // cached: 2048 of 4096 still held
  auto big = pool.Allocate(4096);  // fits only once the cache is trimmed
  ASSERT_TRUE(big.ok()) << big.status();
  auto more = pool.Allocate(256);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kResourceExhausted);
  pool.Release(*big);
}

}  // namespace
}  // namespace stoa::functions::cuda
