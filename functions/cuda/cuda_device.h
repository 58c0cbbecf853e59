// The CUDA device probe and the device kernels of Stoa. This is the only
// library that touches CUDA (DESIGN.md); it is always defined so that callers
// need no #ifdefs: built without CUDA (STOA_ENABLE_CUDA=OFF or no nvcc), every
// function returns UNAVAILABLE "built without CUDA".
//
// Thread safety: every function may be called from any thread. Each call uses
// its own device buffers; the CUDA runtime serialises what it must.
// Errors: UNAVAILABLE when no device answers (the message carries the CUDA
// error string, e.g. "CUDA driver version is insufficient for CUDA runtime
// version"), INTERNAL when a CUDA call fails on a present device.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stoa::functions::cuda {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  size_t memory_bytes = 0;
  int cc_major = 0;
  int cc_minor = 0;
};

// True when this binary was built with CUDA support (not whether a device
// is present: ask ProbeCudaDevice for that).
bool BuiltWithCuda();

// The first CUDA device (index 0). UNAVAILABLE when there is none, when the
// driver cannot serve this runtime, or when built without CUDA.
absl::StatusOr<CudaDeviceInfo> ProbeCudaDevice();

// out[i] = max(in[i], 0) for i < n, computed on device 0: copies host_in to
// the device, runs the kernel, copies the result to host_out. host_in and
// host_out may alias. n == 0 is OK and does nothing.
absl::Status ReluOnDevice(const float* host_in, float* host_out, size_t n);

}  // namespace stoa::functions::cuda
