// LinearMemoryPool: a reused reservation starts zeroed whichever way Release
// zeroed it (memset of the few resident pages, or MADV_DONTNEED when many
// were touched), and keeps faulting outside its read-write part.
#include "functions/wasm/linear_memory_pool.h"

#include <cstdint>
#include <cstring>

#include "gtest/gtest.h"

namespace stoa::functions::wasm {
namespace {

constexpr uint64_t kMiB = 1 << 20;

bool AllZero(const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

class LinearMemoryPoolTest : public ::testing::TestWithParam<uint64_t> {};

// GetParam(): how many bytes the instance dirtied (a few pages: memset;
// megabytes: madvise), scattered over an 8 MiB memory.
TEST_P(LinearMemoryPoolTest, AReusedReservationIsZero) {
  LinearMemoryPool pool(1);
  LinearMemoryPool::Reservation r = pool.Acquire(8 * kMiB);
  ASSERT_NE(r.base, nullptr);
  ASSERT_TRUE(AllZero(r.base, r.rw_bytes));
  const uint64_t pages = GetParam() / 4096, stride = (8 * kMiB / pages) & ~uint64_t{4095};
  for (uint64_t i = 0; i < pages; ++i) std::memset(r.base + i * stride, 0xA5, 4096);
  r.base[8 * kMiB - 1] = 1;  // the last byte too
  uint8_t* const base = r.base;
  pool.Release(r);
  LinearMemoryPool::Reservation again = pool.Acquire(8 * kMiB);
  EXPECT_EQ(again.base, base) << "the reservation was not reused";
  EXPECT_TRUE(AllZero(again.base, again.rw_bytes));
  EXPECT_EQ(pool.created(), 1u);
  pool.Release(again);
}

INSTANTIATE_TEST_SUITE_P(DirtyBytes, LinearMemoryPoolTest,
                         ::testing::Values(4096, 5 * 4096, 256 * 1024, 4 * kMiB));

// A smaller memory on reuse: the pages beyond it are inaccessible again,
// and growing back gives zeroed pages.
TEST(LinearMemoryPoolShrink, ShrinkThenGrowIsZero) {
  LinearMemoryPool pool(1);
  LinearMemoryPool::Reservation r = pool.Acquire(2 * kMiB);
  std::memset(r.base, 0x5A, 2 * kMiB);
  pool.Release(r);
  r = pool.Acquire(64 * 1024);
  EXPECT_EQ(r.rw_bytes, 64u * 1024);
  EXPECT_TRUE(AllZero(r.base, r.rw_bytes));
  std::memset(r.base, 0x5A, r.rw_bytes);
  pool.Release(r);
  r = pool.Acquire(2 * kMiB);
  EXPECT_TRUE(AllZero(r.base, r.rw_bytes));
  pool.Release(r);
}

}  // namespace
}  // namespace stoa::functions::wasm
