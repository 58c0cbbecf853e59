#include "functions/cuda/cuda_device.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

namespace stoa::functions::cuda {
namespace {

TEST(CudaDeviceTest, ProbeReportsDeviceOrUnavailable) {
  absl::StatusOr<CudaDeviceInfo> info = ProbeCudaDevice();
  if (!info.ok()) {
    EXPECT_EQ(info.status().code(), absl::StatusCode::kUnavailable) << info.status();
    EXPECT_FALSE(info.status().message().empty());
    GTEST_SKIP() << "no CUDA device: " << info.status();
  }
  EXPECT_FALSE(info->name.empty());
  EXPECT_GT(info->memory_bytes, 0u);
  EXPECT_GE(info->cc_major, 1);
}

TEST(CudaDeviceTest, ReluOnDeviceMatchesCpu) {
  absl::StatusOr<CudaDeviceInfo> info = ProbeCudaDevice();
  if (!info.ok()) GTEST_SKIP() << "no CUDA device: " << info.status();
  const size_t n = 100003;  // not a multiple of the block size
  std::vector<float> in(n), out(n, -1.0f);
  for (size_t i = 0; i < n; ++i) in[i] = static_cast<float>(static_cast<int>(i % 201) - 100) * 0.5f;
  ASSERT_TRUE(ReluOnDevice(in.data(), out.data(), n).ok());
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], in[i] > 0 ? in[i] : 0.0f) << "at " << i;
}

TEST(CudaDeviceTest, ReluOnDeviceWithoutDeviceIsUnavailable) {
  if (ProbeCudaDevice().ok()) GTEST_SKIP() << "a device is present";
  float x = 1.0f;
  absl::Status s = ReluOnDevice(&x, &x, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

}  // namespace
}  // namespace stoa::functions::cuda
