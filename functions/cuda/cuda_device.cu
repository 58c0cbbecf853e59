#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "functions/cuda/cuda_device.h"

namespace stoa::functions::cuda {
namespace {

absl::Status CudaError(cudaError_t err, const char* what) {
  std::string msg = absl::StrCat(what, ": ", cudaGetErrorString(err));
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
      err == cudaErrorDevicesUnavailable || err == cudaErrorInitializationError) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

#define CUDA_RETURN_IF_ERROR(expr, what)           \
  do {                                             \
    cudaError_t stoa_cuda_err_ = (expr);           \
    if (stoa_cuda_err_ != cudaSuccess) {           \
      cudaGetLastError(); /* clear sticky state */ \
      return CudaError(stoa_cuda_err_, what);      \
    }                                              \
  } while (0)

__global__ void ReluKernel(const float* in, float* out, size_t n) {
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (; i < n; i += stride) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

// Frees a device buffer on every return path.
struct DeviceBuffer {
  float* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

}  // namespace

bool BuiltWithCuda() { return true; }

absl::StatusOr<CudaDeviceInfo> ProbeCudaDevice() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return absl::UnavailableError(absl::StrCat("no CUDA device: ", cudaGetErrorString(err)));
  }
  if (count == 0) return absl::UnavailableError("no CUDA device: device count is 0");
  cudaDeviceProp prop;
  CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  CudaDeviceInfo info;
  info.index = 0;
  info.name = prop.name;
  info.memory_bytes = prop.totalGlobalMem;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  return info;
}

absl::Status ReluOnDevice(const float* host_in, float* host_out, size_t n) {
  if (n == 0) return absl::OkStatus();
  if (host_in == nullptr || host_out == nullptr) {
    return absl::InvalidArgumentError("ReluOnDevice: null buffer");
  }
  CUDA_RETURN_IF_ERROR(cudaSetDevice(0), "cudaSetDevice");
  const size_t bytes = n * sizeof(float);
  DeviceBuffer in, out;
  CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&in.ptr), bytes), "cudaMalloc");
  CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&out.ptr), bytes), "cudaMalloc");
  CUDA_RETURN_IF_ERROR(cudaMemcpy(in.ptr, host_in, bytes, cudaMemcpyHostToDevice),
                       "cudaMemcpy to device");
  constexpr int kThreads = 256;
  const size_t wanted = (n + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(wanted < 4096 ? wanted : 4096);
  ReluKernel<<<blocks, kThreads>>>(in.ptr, out.ptr, n);
  CUDA_RETURN_IF_ERROR(cudaGetLastError(), "ReluKernel launch");
  CUDA_RETURN_IF_ERROR(cudaMemcpy(host_out, out.ptr, bytes, cudaMemcpyDeviceToHost),
                       "cudaMemcpy to host");
  return absl::OkStatus();
}

}  // namespace stoa::functions::cuda
