// Stoa's CUDA kernels, behind plain launch functions so that only
// cuda_kernels.cu is compiled by nvcc; the runner (cuda_graph_runner.cc)
// is ordinary C++ that calls these. Every launch is asynchronous on `stream`
// and returns the launch error (cudaSuccess when queued). Tensors are dense
// row-major FP32 in device memory; shapes are NCHW for the window ops.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace stoa::functions::cuda::kernels {

enum class Activation { kNone, kRelu, kSigmoid, kTanh };

// out[i] = act(in[i]); in and out may alias.
cudaError_t Activate(const float* in, float* out, int64_t n, Activation act, cudaStream_t stream);

// The fused epilogue of a GEMM whose product is already in `out` [m,n]:
// out = act(alpha * out + beta * bias[r * bias_row_stride + c * bias_col_stride]);
// bias may be null (then beta is ignored).
cudaError_t GemmEpilogue(float* out, int64_t m, int64_t n, float alpha, const float* bias,
                         float beta, int64_t bias_row_stride, int64_t bias_col_stride,
                         Activation act, cudaStream_t stream);

constexpr int kMaxRank = 6;
struct BroadcastDims {
  int rank = 0;
  int64_t out[kMaxRank] = {};
  int64_t a_stride[kMaxRank] = {};  // element strides; 0 on broadcast dims
  int64_t b_stride[kMaxRank] = {};
};
enum class BinaryOp { kAdd, kSub, kMul, kDiv };
// out = act(a op b) with numpy broadcasting; n = element count of out.
cudaError_t Binary(const float* a, const float* b, float* out, const BroadcastDims& dims, int64_t n,
                   BinaryOp op, Activation act, cudaStream_t stream);

struct Window2d {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0, oh = 0, ow = 0;       // output channels (conv) and spatial size
  int64_t kh = 0, kw = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t group = 1;
  bool count_include_pad = false;  // AveragePool
};
// Direct convolution, one thread per output element; bias may be null.
cudaError_t Conv2d(const float* x, const float* weight, const float* bias, float* y,
                   const Window2d& p, Activation act, cudaStream_t stream);
cudaError_t MaxPool2d(const float* x, float* y, const Window2d& p, cudaStream_t stream);
cudaError_t AveragePool2d(const float* x, float* y, const Window2d& p, cudaStream_t stream);
// y[nc] = mean of x[nc, 0..hw).
cudaError_t GlobalAveragePool(const float* x, float* y, int64_t nc, int64_t hw,
                              cudaStream_t stream);
// Softmax over the last axis of x viewed as [rows, cols].
cudaError_t SoftmaxLastAxis(const float* x, float* y, int64_t rows, int64_t cols,
                            cudaStream_t stream);

}  // namespace stoa::functions::cuda::kernels
