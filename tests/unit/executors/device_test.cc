#include "executors/device.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::executors {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<functions::cuda::CudaDeviceInfo> NoGpu() {
  return absl::UnavailableError("no CUDA device: CUDA driver version is insufficient");
}

absl::StatusOr<functions::cuda::CudaDeviceInfo> FakeGpu() {
  functions::cuda::CudaDeviceInfo info;
  info.name = "Test GPU";
  info.memory_bytes = size_t{16} << 30;
  info.cc_major = 9;
  return info;
}

TEST(DeviceTest, CpuNeverProbes) {
  int probes = 0;
  common::metrics::Registry registry;
  auto selection = SelectDevice(
      "cpu",
      [&]() -> absl::StatusOr<functions::cuda::CudaDeviceInfo> {
        ++probes;
        return FakeGpu();
      },
      &registry);
  ASSERT_TRUE(selection.ok());
  EXPECT_EQ(probes, 0);
  EXPECT_EQ(selection->selected, "cpu");
  EXPECT_EQ(selection->kernel_device, "cpu");
  EXPECT_FALSE(selection->name.empty());
  EXPECT_THAT(registry.Serialize(), HasSubstr("stoa_executor_device_info{device=\"cpu\""));
}

TEST(DeviceTest, AutoFallsBackToCpuWithTheReason) {
  common::metrics::Registry registry;
  auto selection = SelectDevice("auto", NoGpu, &registry);
  ASSERT_TRUE(selection.ok());
  EXPECT_EQ(selection->selected, "cpu");
  EXPECT_THAT(selection->reason, HasSubstr("driver version is insufficient"));
  EXPECT_THAT(registry.Serialize(), HasSubstr("stoa_executor_device_info{device=\"cpu\""));
}

TEST(DeviceTest, CudaWithoutDeviceIsAnError) {
  auto selection = SelectDevice("cuda", NoGpu, nullptr);
  ASSERT_FALSE(selection.ok());
  EXPECT_EQ(selection.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(selection.status().message()),
              HasSubstr("driver version is insufficient"));
}

TEST(DeviceTest, GpuPresentIsSelectedAndKernelsRunThereWhenBuiltWithCuda) {
  for (const char* flag : {"cuda", "auto"}) {
    common::metrics::Registry registry;
    auto selection = SelectDevice(flag, FakeGpu, &registry);
    ASSERT_TRUE(selection.ok()) << flag;
    EXPECT_EQ(selection->selected, "cuda");
    EXPECT_EQ(selection->name, "Test GPU");
    EXPECT_EQ(selection->kernel_device, functions::cuda::BuiltWithCuda() ? "cuda" : "cpu");
    EXPECT_THAT(registry.Serialize(),
                HasSubstr("stoa_executor_device_info{device=\"cuda\",name=\"Test GPU\"} 1"));
  }
}

TEST(DeviceTest, UnknownFlagIsInvalidArgument) {
  auto selection = SelectDevice("tpu", NoGpu, nullptr);
  ASSERT_FALSE(selection.ok());
  EXPECT_EQ(selection.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(selection.status().message()), HasSubstr("'tpu'"));
}

// This machine has no GPU (NOTES.md): the real probe must not select CUDA.
TEST(DeviceTest, RealProbeOnThisMachine) {
  auto probe = functions::cuda::ProbeCudaDevice();
  auto auto_selection = SelectDevice("auto", nullptr);
  ASSERT_TRUE(auto_selection.ok());
  auto cuda_selection = SelectDevice("cuda", nullptr);
  if (probe.ok()) {
    EXPECT_EQ(auto_selection->selected, "cuda");
    EXPECT_TRUE(cuda_selection.ok());
  } else {
    EXPECT_EQ(auto_selection->selected, "cpu");
    EXPECT_FALSE(cuda_selection.ok());
  }
}

}  // namespace
}  // namespace stoa::executors
