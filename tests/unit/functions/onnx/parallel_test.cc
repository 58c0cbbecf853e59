// ParallelFor on an IntraOpPool (parallel.h) and the Conv paths that split
// their work with it: every index runs exactly once whatever the budget and
// however many callers share the pool; a caller never waits for a worker
// that is busy elsewhere; Conv's paths for few output positions (ThinGemm,
// the 1-D window read in place, the maps split over threads) agree with a
// direct convolution at one and at several threads.
#include "functions/onnx/parallel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/thin_gemm.h"

namespace stoa::functions::onnx {
namespace {

std::vector<int> Coverage(int64_t n, int64_t min_chunk) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  ParallelFor(n, min_chunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
  });
  std::vector<int> out;
  for (auto& h : hits) out.push_back(h.load());
  return out;
}

TEST(ParallelForTest, EveryIndexRunsOnceAtAnyBudget) {
  for (int workers : {1, 2, 3}) {
    IntraOpPool pool(workers);
    for (int threads : {1, 2, 4}) {
      ScopedParallelism scope({.pool = &pool, .threads = threads});
      EXPECT_EQ(ParallelThreads(), threads);
      for (int64_t n : {1, 7, 64, 1000, 4097}) {
        EXPECT_THAT(Coverage(n, 3), ::testing::Each(1)) << workers << " " << threads << " " << n;
      }
    }
  }
  EXPECT_EQ(ParallelThreads(), 1);  // the scope ended
}

TEST(ParallelForTest, CallersSharingAPoolEachGetTheirOwnChunks) {
  IntraOpPool pool(2);
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      ScopedParallelism scope({.pool = &pool, .threads = 3});
      for (int round = 0; round < 300; ++round) {
        std::vector<int> hits = Coverage(97 + round % 5, 4);
        for (int h : hits) failures += h == 1 ? 0 : 1;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ParallelForTest, TheCallerRunsWhatABusyWorkerCannot) {
  IntraOpPool pool(1);
  absl::Notification release;
  std::thread blocker([&] {
    // Holds the only worker inside a chunk of another caller's ParallelFor.
    ScopedParallelism scope({.pool = &pool, .threads = 2});
    ParallelFor(2, 1, [&](int64_t begin, int64_t) {
      if (begin == 1) release.WaitForNotification();
    });
  });
  // Give the worker time to take the blocker's second chunk (or not: then
  // the blocker runs it itself and waits on its own thread instead).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ScopedParallelism scope({.pool = &pool, .threads = 2});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Coverage(1000, 1), ::testing::Each(1));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  release.Notify();
  blocker.join();
}

TEST(ParallelForTest, NestedCallsInAWorkerRunInline) {
  IntraOpPool pool(2);
  ScopedParallelism scope({.pool = &pool, .threads = 3});
  std::atomic<int64_t> total{0};
  ParallelFor(3, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      ParallelFor(10, 1, [&](int64_t b, int64_t e) { total += e - b; });
    }
  });
  EXPECT_EQ(total.load(), 30);
}

TEST(ThinGemmTest, MatchesTheDirectProductWithTailsAndOverlappingRows) {
  for (int64_t m : {1, 3, 4, 9}) {
    for (int64_t k : {5, 16, 37, 512}) {
      for (int64_t n : {1, 2, 5}) {
        std::vector<float> a(m * k), x(n * k + 8);
        for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 13) * 0.25f - 1.5f;
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
        for (int64_t ldb : {k, int64_t{3}}) {  // separate rows, then overlapping windows
          std::vector<float> y(m * n, -99.0f);
          ThinGemm(a.data(), m, k, x.data(), ldb, n, y.data(), n);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double want = 0;
              for (int64_t t = 0; t < k; ++t) want += double(a[i * k + t]) * x[j * ldb + t];
              EXPECT_NEAR(y[i * n + j], want, 1e-3 * (1 + std::abs(want)))
                  << m << " " << k << " " << n << " " << ldb << " " << i << " " << j;
            }
          }
        }
      }
    }
  }
}

// A direct convolution of x (1 x c x h x w) with w (maps x c x kh x kw),
// stride s, padding p on every side, + bias, then Relu.
std::vector<float> DirectConv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s,
                              int64_t p) {
  const int64_t c = x.shape()[1], h = x.shape()[2], wd = x.shape()[3];
  const int64_t maps = w.shape()[0], kh = w.shape()[2], kw = w.shape()[3];
  const int64_t oh = (h + 2 * p - kh) / s + 1, ow = (wd + 2 * p - kw) / s + 1;
  std::vector<float> y;
  for (int64_t m = 0; m < maps; ++m) {
    for (int64_t i = 0; i < oh; ++i) {
      for (int64_t j = 0; j < ow; ++j) {
        double acc = b.floats()[m];
        for (int64_t ch = 0; ch < c; ++ch) {
          for (int64_t u = 0; u < kh; ++u) {
            for (int64_t v = 0; v < kw; ++v) {
              const int64_t r = i * s + u - p, q = j * s + v - p;
              if (r < 0 || r >= h || q < 0 || q >= wd) continue;
              acc += double(x.floats()[(ch * h + r) * wd + q]) *
                     w.floats()[((m * c + ch) * kh + u) * kw + v];
            }
          }
        }
        y.push_back(static_cast<float>(std::max(acc, 0.0)));
      }
    }
  }
  return y;
}

Tensor Pattern(Shape shape, int mod, float scale) {
  std::vector<float> v(static_cast<size_t>(DimProduct(shape, 0, shape.size())));
  for (size_t i = 0; i < v.size(); ++i) v[i] = (static_cast<float>(i * 7 % mod) - mod / 2) * scale;
  return Tensor::Float(std::move(shape), std::move(v));
}

// Runs Conv (+ the fused Relu, as fusion.h sets it) at `threads`.
std::vector<float> RunConv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p,
                           int threads) {
  static const OpRegistry* registry = new OpRegistry(DefaultOpRegistry());
  Node node;
  node.name = "conv";
  node.op_type = "Conv";
  node.opset = 13;
  node.attributes.Set("strides", std::vector<int64_t>(x.rank() - 2, s));
  node.attributes.Set("pads", std::vector<int64_t>(2 * (x.rank() - 2), p));
  node.attributes.Set("_activation", std::string("Relu"));
  node.kernel = *registry->Find("Conv");
  node.outputs.push_back(1);
  node.input_names = {"x", "w", "b"};
  IntraOpPool pool(2);
  ScopedParallelism scope({.pool = threads > 1 ? &pool : nullptr, .threads = threads});
  const std::vector<const Tensor*> args = {&x, &w, &b};
  absl::StatusOr<std::vector<Tensor>> out = node.kernel.run(node, args);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  return {(*out)[0].floats().begin(), (*out)[0].floats().end()};
}

TEST(ConvFewPositionsTest, EveryPathAgreesWithTheDirectConvolution) {
  struct Case {
    const char* name;
    Shape x, w;
    int64_t stride, pad;
    bool one_d;  // run as 1-D: x and w without their height of 1
  };
  const Case cases[] = {
      // 1-D, one channel, unpadded: the windows read in place (an STFT).
      {"stft", {1, 1, 1, 300}, {70, 1, 1, 64}, 20, 0, true},
      // 2-D, padded, 16 or fewer positions: im2col, transposed, ThinGemm.
      {"thin 2-D", {1, 3, 7, 7}, {66, 3, 3, 3}, 2, 1, false},
      // 17..127 positions, 64 or more maps: the maps split, Eigen's GEMM.
      {"few", {1, 4, 9, 9}, {80, 4, 3, 3}, 1, 0, false},
  };
  for (const Case& c : cases) {
    const Tensor x = Pattern(c.x, 11, 0.2f), w = Pattern(c.w, 13, 0.05f);
    const Tensor b = Pattern({c.w[0]}, 5, 0.1f);
    const std::vector<float> want = DirectConv(x, w, b, c.stride, c.pad);
    const auto drop_height = [&](const Tensor& t) {
      if (!c.one_d) return t;
      return Tensor::Float({t.shape()[0], t.shape()[1], t.shape()[3]},
                           {t.floats().begin(), t.floats().end()});
    };
    for (int threads : {1, 3}) {
      EXPECT_THAT(RunConv(drop_height(x), drop_height(w), b, c.stride, c.pad, threads),
                  ::testing::Pointwise(::testing::FloatNear(1e-4f), want))
          << c.name << " at " << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace stoa::functions::onnx
