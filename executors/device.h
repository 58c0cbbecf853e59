// Device selection for `stoa-executor --device cpu|cuda|auto`.
//
//   cpu   → the CPU.
//   cuda  → CUDA device 0; UNAVAILABLE with the probe's reason when no
//           device answers (no GPU, driver too old, built without CUDA).
//   auto  → CUDA when a device answers, else the CPU, with a log line
//           (spdlog::info) giving the probe's reason.
// Any other value is INVALID_ARGUMENT.
//
// `kernel_device` is where ONNX kernels run: "cuda" when a GPU was selected
// and this binary has the CUDA backend (functions/cuda: stoa-executor then
// loads ONNX functions with functions::cuda::CudaRuntimes(), and a model the
// CUDA kernels cannot run stays on the CPU with a log line), else "cpu".
// Executors report it as their `device` (GetStatus, InvokeResponse); `name`
// names the probed GPU when one was selected.
//
// Metrics (when a registry is given): the gauge
//   stoa_executor_device_info{device="cpu"|"cuda",name="…"} 1
// for the selected device.
//
// Thread safety: SelectDevice may be called from any thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "functions/cuda/cuda_device.h"

namespace stoa::executors {

struct DeviceSelection {
  std::string requested;      // "cpu" | "cuda" | "auto"
  std::string selected;       // "cpu" | "cuda"
  std::string kernel_device;  // where ONNX kernels run: "cuda" or "cpu"
  std::string name;           // CPU model, or the GPU's name
  std::string reason;         // one line: why this device
};

using CudaProbe = std::function<absl::StatusOr<functions::cuda::CudaDeviceInfo>()>;

// `probe` is called at most once (not for "cpu").
absl::StatusOr<DeviceSelection> SelectDevice(std::string_view flag, const CudaProbe& probe,
                                             common::metrics::Registry* metrics /* nullable */);

// The same with functions::cuda::ProbeCudaDevice.
absl::StatusOr<DeviceSelection> SelectDevice(std::string_view flag,
                                             common::metrics::Registry* metrics /* nullable */);

// The CPU's model name from /proc/cpuinfo, or "cpu" when unknown.
std::string CpuModelName();

}  // namespace stoa::executors
