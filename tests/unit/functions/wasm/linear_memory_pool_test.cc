// LinearMemoryPool: a reused reservation starts zeroed whichever way Release
// zeroed it (memset of the committed pages of a lazy one, memset of the few
// resident pages of an eager one, or MADV_DONTNEED when many were touched),
// and keeps faulting outside its read-write part.
#include "functions/wasm/linear_memory_pool.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

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

// Whether the byte at p can be read: a pipe write copies from it, and fails
// with EFAULT where the page is PROT_NONE (no signal).
bool Readable(const uint8_t* p) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const bool ok = write(fds[1], p, 1) == 1;
  close(fds[0]);
  close(fds[1]);
  return ok;
}

using Mode = LinearMemoryPool::Mode;
constexpr uint64_t kPage = LinearMemoryPool::kPageBytes;

// Lazy: nothing is accessible until Commit; the committed page stays
// read-write (and zeroed) for the next lazy instance of the same size.
TEST(LinearMemoryPoolLazy, PagesBecomeAccessibleOnCommitAndStayZeroedOnReuse) {
  LinearMemoryPool pool(1);
  LinearMemoryPool::Reservation r = pool.Acquire(128 * 1024, Mode::kLazy);
  ASSERT_NE(r.base, nullptr);
  EXPECT_TRUE(r.lazy);
  EXPECT_FALSE(Readable(r.base));
  EXPECT_FALSE(Readable(r.base + kPage + 8));
  ASSERT_TRUE(LinearMemoryPool::Commit(r, kPage + 8, 128 * 1024));
  EXPECT_EQ(r.committed, 1u);
  EXPECT_TRUE(Readable(r.base + kPage));
  EXPECT_FALSE(Readable(r.base));
  std::memset(r.base + kPage, 0x77, kPage);
  EXPECT_FALSE(LinearMemoryPool::Commit(r, 128 * 1024, 128 * 1024)) << "past the memory";
  uint8_t* const base = r.base;
  pool.Release(r);
  r = pool.Acquire(128 * 1024, Mode::kLazy);
  EXPECT_EQ(r.base, base);
  EXPECT_EQ(r.committed, 1u);
  EXPECT_TRUE(AllZero(r.base + kPage, kPage));
  pool.Release(r);
  EXPECT_EQ(pool.created(), 1u);
}

// A smaller memory: committed pages past it are inaccessible again.
TEST(LinearMemoryPoolLazy, ASmallerMemoryLosesThePagesPastIt) {
  LinearMemoryPool pool(1);
  LinearMemoryPool::Reservation r = pool.Acquire(256 * 1024, Mode::kLazy);
  ASSERT_TRUE(LinearMemoryPool::Commit(r, 8, 256 * 1024));
  ASSERT_TRUE(LinearMemoryPool::Commit(r, 200 * 1024, 256 * 1024));
  std::memset(r.base + 200 * 1024, 0x77, 64);
  pool.Release(r);
  r = pool.Acquire(64 * 1024, Mode::kLazy);
  EXPECT_EQ(r.committed, 1u);
  EXPECT_TRUE(Readable(r.base));
  EXPECT_FALSE(Readable(r.base + 200 * 1024));
  // Growing back: the page commits again, zeroed.
  ASSERT_TRUE(LinearMemoryPool::Grow(r, 256 * 1024));
  ASSERT_TRUE(LinearMemoryPool::Commit(r, 200 * 1024, 256 * 1024));
  EXPECT_TRUE(AllZero(r.base + 200 * 1024, kPage));
  pool.Release(r);
}

// Past kLazyPages the whole memory becomes read-write at once (eager), and
// Release zeroes it the eager way.
TEST(LinearMemoryPoolLazy, TooManyPagesTurnEager) {
  LinearMemoryPool pool(1);
  const uint64_t bytes = 2 << 20;
  LinearMemoryPool::Reservation r = pool.Acquire(bytes, Mode::kLazy);
  for (uint32_t i = 0; i < LinearMemoryPool::kLazyPages; ++i) {
    ASSERT_TRUE(LinearMemoryPool::Commit(r, 2 * i * kPage, bytes));
    r.base[2 * i * kPage] = 1;
  }
  EXPECT_TRUE(r.lazy);
  ASSERT_TRUE(LinearMemoryPool::Commit(r, bytes - 1, bytes));
  EXPECT_FALSE(r.lazy);
  EXPECT_EQ(r.rw_bytes, bytes);
  EXPECT_TRUE(Readable(r.base + kPage));
  std::memset(r.base + bytes - kPage, 0x77, kPage);
  uint8_t* const base = r.base;
  pool.Release(r);
  // The eager reservation serves the next memory (the pool keeps one).
  r = pool.Acquire(bytes, Mode::kLazy);
  EXPECT_EQ(r.base, base);
  EXPECT_FALSE(r.lazy);
  EXPECT_TRUE(AllZero(r.base, bytes));
  pool.Release(r);
}

// An eager memory on a lazy reservation: all of it read-write and zero.
TEST(LinearMemoryPoolLazy, AnEagerMemoryOnALazyReservation) {
  LinearMemoryPool pool(1);
  LinearMemoryPool::Reservation r = pool.Acquire(128 * 1024, Mode::kLazy);
  ASSERT_TRUE(LinearMemoryPool::Commit(r, 100 * 1024, 128 * 1024));
  r.base[100 * 1024] = 9;
  pool.Release(r);
  r = pool.Acquire(64 * 1024, Mode::kEager);
  EXPECT_FALSE(r.lazy);
  EXPECT_EQ(r.rw_bytes, 64u * 1024);
  EXPECT_TRUE(AllZero(r.base, r.rw_bytes));
  EXPECT_FALSE(Readable(r.base + 100 * 1024));
  pool.Release(r);
  EXPECT_EQ(pool.created(), 1u);
}

// Idle reservations are kept up to max_idle whether they wait in the
// lock-free slots (lazy) or the lists (eager, and lazy past the slots):
// released beyond it, they are unmapped and the next Acquires create new
// ones.
TEST(LinearMemoryPoolIdle, KeepsAtMostMaxIdle) {
  for (const size_t max_idle : {size_t{0}, size_t{3}, size_t{12}}) {
    for (const Mode mode : {Mode::kLazy, Mode::kEager}) {
      LinearMemoryPool pool(max_idle);
      std::vector<LinearMemoryPool::Reservation> held;
      for (int i = 0; i < 16; ++i) held.push_back(pool.Acquire(64 * 1024, mode));
      for (const auto& r : held) ASSERT_NE(r.base, nullptr);
      for (auto& r : held) pool.Release(r);
      held.clear();
      for (int i = 0; i < 16; ++i) held.push_back(pool.Acquire(64 * 1024, mode));
      EXPECT_EQ(pool.created(), 16u + 16u - max_idle)
          << "max_idle " << max_idle << (mode == Mode::kLazy ? " lazy" : " eager");
      for (auto& r : held) pool.Release(r);
    }
  }
}

// Threads acquiring and releasing at once: no reservation is handed to two
// holders (each writes its own mark over a committed page and finds it
// intact before releasing), and every one arrives zeroed.
TEST(LinearMemoryPoolIdle, ConcurrentHoldersNeverShareAReservation) {
  LinearMemoryPool pool(4);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, &failures, t] {
      for (int i = 0; i < 2000; ++i) {
        LinearMemoryPool::Reservation r = pool.Acquire(64 * 1024, Mode::kLazy);
        // Page 0 stays committed on a reused reservation (no fault then).
        if (r.base == nullptr ||
            (r.committed == 0 && !LinearMemoryPool::Commit(r, 100, 64 * 1024)) ||
            !AllZero(r.base, kPage)) {
          failures.fetch_add(1);
          continue;
        }
        const uint8_t mark = static_cast<uint8_t>(t + 1);
        std::memset(r.base, mark, kPage);
        std::this_thread::yield();
        for (uint64_t b = 0; b < kPage; ++b) {
          if (r.base[b] != mark) {
            failures.fetch_add(1);
            break;
          }
        }
        pool.Release(r);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(pool.created(), 4u + 4u);
}

}  // namespace
}  // namespace stoa::functions::wasm
