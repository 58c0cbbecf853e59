#include <cfloat>
#include <cstdint>

#include "functions/cuda/cuda_kernels.h"

namespace stoa::functions::cuda::kernels {
namespace {

constexpr int kThreads = 256;

int Blocks(int64_t n) {
  const int64_t wanted = (n + kThreads - 1) / kThreads;
  return static_cast<int>(wanted < 65535 ? (wanted > 0 ? wanted : 1) : 65535);
}

__device__ __forceinline__ float Act(float v, Activation act) {
  switch (act) {
    case Activation::kRelu:
      return v > 0.0f ? v : 0.0f;
    case Activation::kSigmoid:
      return 1.0f / (1.0f + expf(-v));
    case Activation::kTanh:
      return tanhf(v);
    default:
      return v;
  }
}

#define STOA_GRID_LOOP(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void ActivateKernel(const float* in, float* out, int64_t n, Activation act) {
  STOA_GRID_LOOP(i, n) { out[i] = Act(in[i], act); }
}

__global__ void EpilogueKernel(float* out, int64_t m, int64_t n, float alpha, const float* bias,
                               float beta, int64_t rs, int64_t cs, Activation act) {
  STOA_GRID_LOOP(i, m * n) {
    const int64_t r = i / n, c = i % n;
    float v = alpha * out[i];
    if (bias != nullptr) v += beta * bias[r * rs + c * cs];
    out[i] = Act(v, act);
  }
}

__global__ void BinaryKernel(const float* a, const float* b, float* out, BroadcastDims d, int64_t n,
                             BinaryOp op, Activation act) {
  STOA_GRID_LOOP(i, n) {
    int64_t rest = i, ao = 0, bo = 0;
    for (int k = d.rank - 1; k >= 0; --k) {
      const int64_t idx = rest % d.out[k];
      rest /= d.out[k];
      ao += idx * d.a_stride[k];
      bo += idx * d.b_stride[k];
    }
    const float x = a[ao], y = b[bo];
    float v;
    switch (op) {
      case BinaryOp::kAdd:
        v = x + y;
        break;
      case BinaryOp::kSub:
        v = x - y;
        break;
      case BinaryOp::kMul:
        v = x * y;
        break;
      default:
        v = x / y;
        break;
    }
    out[i] = Act(v, act);
  }
}

__global__ void Conv2dKernel(const float* x, const float* w, const float* bias, float* y,
                             Window2d p, Activation act) {
  const int64_t total = p.n * p.k * p.oh * p.ow;
  const int64_t cin_per_group = p.c / p.group;
  const int64_t k_per_group = p.k / p.group;
  STOA_GRID_LOOP(i, total) {
    const int64_t ox = i % p.ow;
    const int64_t oy = (i / p.ow) % p.oh;
    const int64_t oc = (i / (p.ow * p.oh)) % p.k;
    const int64_t n = i / (p.ow * p.oh * p.k);
    const int64_t g = oc / k_per_group;
    float acc = bias != nullptr ? bias[oc] : 0.0f;
    for (int64_t ic = 0; ic < cin_per_group; ++ic) {
      const float* xc = x + ((n * p.c + g * cin_per_group + ic) * p.h) * p.w;
      const float* wc = w + (oc * cin_per_group + ic) * p.kh * p.kw;
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
        if (iy < 0 || iy >= p.h) continue;
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dil_w;
          if (ix < 0 || ix >= p.w) continue;
          acc += xc[iy * p.w + ix] * wc[ky * p.kw + kx];
        }
      }
    }
    y[i] = Act(acc, act);
  }
}

template <bool kMax>
__global__ void Pool2dKernel(const float* x, float* y, Window2d p) {
  const int64_t total = p.n * p.c * p.oh * p.ow;
  STOA_GRID_LOOP(i, total) {
    const int64_t ox = i % p.ow;
    const int64_t oy = (i / p.ow) % p.oh;
    const int64_t nc = i / (p.ow * p.oh);
    const float* xc = x + nc * p.h * p.w;
    float acc = kMax ? -FLT_MAX : 0.0f;
    int64_t count = 0, padded = 0;
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dil_w;
        // Window cells inside the padded input count for count_include_pad.
        if (iy < p.h + p.pad_bottom && ix < p.w + p.pad_right) ++padded;
        if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
        const float v = xc[iy * p.w + ix];
        if (kMax) {
          acc = v > acc ? v : acc;
        } else {
          acc += v;
        }
        ++count;
      }
    }
    if (!kMax) {
      const int64_t div = p.count_include_pad ? padded : count;
      acc = div > 0 ? acc / static_cast<float>(div) : 0.0f;
    }
    y[i] = acc;
  }
}

__global__ void GlobalAverageKernel(const float* x, float* y, int64_t nc, int64_t hw) {
  STOA_GRID_LOOP(i, nc) {
    float acc = 0.0f;
    for (int64_t j = 0; j < hw; ++j) acc += x[i * hw + j];
    y[i] = acc / static_cast<float>(hw);
  }
}

__global__ void SoftmaxKernel(const float* x, float* y, int64_t rows, int64_t cols) {
  STOA_GRID_LOOP(r, rows) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -FLT_MAX;
    for (int64_t c = 0; c < cols; ++c) m = xr[c] > m ? xr[c] : m;
    float sum = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      yr[c] = expf(xr[c] - m);
      sum += yr[c];
    }
    for (int64_t c = 0; c < cols; ++c) yr[c] /= sum;
  }
}

}  // namespace

cudaError_t Activate(const float* in, float* out, int64_t n, Activation act, cudaStream_t stream) {
  ActivateKernel<<<Blocks(n), kThreads, 0, stream>>>(in, out, n, act);
  return cudaGetLastError();
}

cudaError_t GemmEpilogue(float* out, int64_t m, int64_t n, float alpha, const float* bias,
                         float beta, int64_t bias_row_stride, int64_t bias_col_stride,
                         Activation act, cudaStream_t stream) {
  EpilogueKernel<<<Blocks(m * n), kThreads, 0, stream>>>(out, m, n, alpha, bias, beta,
                                                         bias_row_stride, bias_col_stride, act);
  return cudaGetLastError();
}

cudaError_t Binary(const float* a, const float* b, float* out, const BroadcastDims& dims, int64_t n,
                   BinaryOp op, Activation act, cudaStream_t stream) {
  BinaryKernel<<<Blocks(n), kThreads, 0, stream>>>(a, b, out, dims, n, op, act);
  return cudaGetLastError();
}

cudaError_t Conv2d(const float* x, const float* weight, const float* bias, float* y,
                   const Window2d& p, Activation act, cudaStream_t stream) {
  Conv2dKernel<<<Blocks(p.n * p.k * p.oh * p.ow), kThreads, 0, stream>>>(x, weight, bias, y, p,
                                                                         act);
  return cudaGetLastError();
}

cudaError_t MaxPool2d(const float* x, float* y, const Window2d& p, cudaStream_t stream) {
  Pool2dKernel<true><<<Blocks(p.n * p.c * p.oh * p.ow), kThreads, 0, stream>>>(x, y, p);
  return cudaGetLastError();
}

cudaError_t AveragePool2d(const float* x, float* y, const Window2d& p, cudaStream_t stream) {
  Pool2dKernel<false><<<Blocks(p.n * p.c * p.oh * p.ow), kThreads, 0, stream>>>(x, y, p);
  return cudaGetLastError();
}

cudaError_t GlobalAveragePool(const float* x, float* y, int64_t nc, int64_t hw,
                              cudaStream_t stream) {
  GlobalAverageKernel<<<Blocks(nc), kThreads, 0, stream>>>(x, y, nc, hw);
  return cudaGetLastError();
}

cudaError_t SoftmaxLastAxis(const float* x, float* y, int64_t rows, int64_t cols,
                            cudaStream_t stream) {
  SoftmaxKernel<<<Blocks(rows), kThreads, 0, stream>>>(x, y, rows, cols);
  return cudaGetLastError();
}

}  // namespace stoa::functions::cuda::kernels
