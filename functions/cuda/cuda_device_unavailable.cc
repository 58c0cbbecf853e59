// Built when CUDA is off: the same API, always UNAVAILABLE.
#include "functions/cuda/cuda_device.h"

namespace stoa::functions::cuda {

bool BuiltWithCuda() { return false; }

absl::StatusOr<CudaDeviceInfo> ProbeCudaDevice() {
  return absl::UnavailableError("no CUDA device: built without CUDA");
}

absl::Status ReluOnDevice(const float*, float*, size_t) {
  return absl::UnavailableError("ReluOnDevice: built without CUDA");
}

}  // namespace stoa::functions::cuda
