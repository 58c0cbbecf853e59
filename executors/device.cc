#include "executors/device.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace stoa::executors {
namespace {

void ExportDeviceInfo(const DeviceSelection& selection, common::metrics::Registry* metrics) {
  if (metrics == nullptr) return;
  metrics
      ->AddGauge("stoa_executor_device_info",
                 "The device this executor selected (value is always 1).")
      .Add({{"device", selection.selected}, {"name", selection.name}})
      ->Set(1);
}

std::string DescribeGpu(const functions::cuda::CudaDeviceInfo& info) {
  return absl::StrFormat("CUDA device %d: %s (compute capability %d.%d, %.1f GiB)", info.index,
                         info.name, info.cc_major, info.cc_minor,
                         static_cast<double>(info.memory_bytes) / (1024.0 * 1024.0 * 1024.0));
}

}  // namespace

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "model name")) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    std::string name(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (!name.empty()) return name;
  }
  return "cpu";
}

absl::StatusOr<DeviceSelection> SelectDevice(std::string_view flag, const CudaProbe& probe,
                                             common::metrics::Registry* metrics) {
  DeviceSelection selection;
  selection.requested = std::string(flag);
  selection.kernel_device = "cpu";
  if (flag != "cpu" && flag != "cuda" && flag != "auto") {
    return absl::InvalidArgumentError(
        absl::StrCat("--device must be cpu, cuda or auto, got '", std::string(flag), "'"));
  }
  if (flag == "cpu") {
    selection.selected = "cpu";
    selection.name = CpuModelName();
    selection.reason = "--device cpu";
    ExportDeviceInfo(selection, metrics);
    return selection;
  }
  absl::StatusOr<functions::cuda::CudaDeviceInfo> gpu = probe();
  if (gpu.ok()) {
    selection.selected = "cuda";
    selection.name = gpu->name;
    if (functions::cuda::BuiltWithCuda()) {
      selection.kernel_device = "cuda";
      selection.reason = DescribeGpu(*gpu);
    } else {
      selection.reason =
          absl::StrCat(DescribeGpu(*gpu), "; built without CUDA, kernels run on the CPU");
    }
    ExportDeviceInfo(selection, metrics);
    return selection;
  }
  if (flag == "cuda") {
    return absl::UnavailableError(absl::StrCat("--device cuda: no usable CUDA device (",
                                               std::string(gpu.status().message()), ")"));
  }
  selection.selected = "cpu";
  selection.name = CpuModelName();
  selection.reason =
      absl::StrCat("--device auto: using the CPU (", std::string(gpu.status().message()), ")");
  spdlog::info("{}", selection.reason);
  ExportDeviceInfo(selection, metrics);
  return selection;
}

absl::StatusOr<DeviceSelection> SelectDevice(std::string_view flag,
                                             common::metrics::Registry* metrics) {
  return SelectDevice(flag, &functions::cuda::ProbeCudaDevice, metrics);
}

}  // namespace stoa::executors
