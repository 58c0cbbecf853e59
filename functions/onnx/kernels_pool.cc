// Pooling and normalisation on FP32 NC[spatial...] tensors: MaxPool (with
// dilations, ceil_mode and the optional Indices output), AveragePool
// (count_include_pad, ceil_mode), GlobalAveragePool, GlobalMaxPool and
// BatchNormalization (inference). Work is split over (batch, channel)
// planes within the thread budget.
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/conv_geometry.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/narrow_int.h"
#include "functions/onnx/parallel.h"

namespace stoa::functions::onnx {
namespace {

absl::Status ValidatePool(const Node& node) {
  RETURN_IF_ERROR(ValidateWindowAttributes(node, /*needs_kernel_shape=*/true));
  ASSIGN_OR_RETURN(int64_t ceil_mode, node.attributes.GetInt("ceil_mode", 0));
  ASSIGN_OR_RETURN(int64_t include_pad, node.attributes.GetInt("count_include_pad", 0));
  ASSIGN_OR_RETURN(int64_t storage_order, node.attributes.GetInt("storage_order", 0));
  if (storage_order != 0) {
    return absl::InvalidArgumentError("attribute 'storage_order' = 1 is not supported");
  }
  if ((ceil_mode != 0 && ceil_mode != 1) || (include_pad != 0 && include_pad != 1)) {
    return absl::InvalidArgumentError("attributes ceil_mode and count_include_pad must be 0 or 1");
  }
  return absl::OkStatus();
}

// One H x W plane of a 2-D pool, without per-element index decoding.
// `base` is the plane's offset in the whole input (for MaxPool indices).
// MaxPool 2x2 or 1x2 with the kernel as stride, no padding or dilation, no
// Indices: the common CNN down-sampling (and openWakeWord's 1x2 along
// time), every window inside the plane.
bool MaxPool2x2(const float* x, const WindowGeometry& g, float* y) {
  const int64_t kh = g.kernel[0];
  if ((kh != 1 && kh != 2) || g.stride[0] != kh || g.kernel[1] != 2 || g.stride[1] != 2) {
    return false;
  }
  for (int64_t d = 0; d < 2; ++d) {
    if (g.dilation[d] != 1 || g.pad_begin[d] != 0 || g.stride[d] * g.out[d] > g.in[d]) {
      return false;
    }
  }
  const int64_t w = g.in[1], ow_n = g.out[1];
  for (int64_t oh = 0; oh < g.out[0]; ++oh) {
    const float* r0 = x + kh * oh * w;
    const float* r1 = kh == 2 ? r0 + w : r0;
    float* out = y + oh * ow_n;
    for (int64_t ow = 0; ow < ow_n; ++ow) {
      out[ow] =
          std::max(std::max(r0[2 * ow], r0[2 * ow + 1]), std::max(r1[2 * ow], r1[2 * ow + 1]));
    }
  }
  return true;
}

template <bool kMax>
void Pool2D(const float* x, const WindowGeometry& g, bool include_pad, float* y, int64_t* indices,
            int64_t base) {
  if (kMax && indices == nullptr && MaxPool2x2(x, g, y)) return;
  const int64_t h = g.in[0], w = g.in[1];
  for (int64_t oh = 0; oh < g.out[0]; ++oh) {
    const int64_t hs = oh * g.stride[0] - g.pad_begin[0];
    for (int64_t ow = 0; ow < g.out[1]; ++ow) {
      const int64_t ws = ow * g.stride[1] - g.pad_begin[1];
      float acc = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
      int64_t arg = -1, count = 0;
      for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
        const int64_t ih = hs + kh * g.dilation[0];
        if (ih < 0 || ih >= h) continue;
        const float* row = x + ih * w;
        for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
          const int64_t iw = ws + kw * g.dilation[1];
          if (iw < 0 || iw >= w) continue;
          if (kMax) {
            if (row[iw] > acc || arg < 0) {
              acc = row[iw];
              arg = ih * w + iw;
            }
          } else {
            acc += row[iw];
          }
          ++count;
        }
      }
      if (!kMax) {
        int64_t divisor = count;
        if (include_pad) {
          const int64_t he = std::min(hs + g.kernel[0], h + g.pad_end[0]);
          const int64_t we = std::min(ws + g.kernel[1], w + g.pad_end[1]);
          divisor = (he - hs) * (we - ws);
        }
        acc /= static_cast<float>(std::max<int64_t>(divisor, 1));
      }
      y[oh * g.out[1] + ow] = acc;
      if (indices != nullptr) indices[oh * g.out[1] + ow] = base + arg;
    }
  }
}

template <bool kMax>
absl::StatusOr<std::vector<Tensor>> RunPool(const Node& node, KernelInputs in) {
  if (kMax && HasInput(in, 0) && IsNarrowInteger(in[0]->type())) {
    return RunWidened(node, in, RunPool<true>);  // an 8-bit max is exact in FP32
  }
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  const Tensor& x = *in[0];
  if (x.rank() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("X must have rank >= 3, got ", ShapeString(x.shape())));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> kernel, node.attributes.GetInts("kernel_shape"));
  ASSIGN_OR_RETURN(int64_t ceil_mode, node.attributes.GetInt("ceil_mode", 0));
  ASSIGN_OR_RETURN(int64_t include_pad, node.attributes.GetInt("count_include_pad", 0));
  ASSIGN_OR_RETURN(WindowGeometry g, ResolveWindow(node, {x.shape().begin() + 2, x.shape().end()},
                                                   kernel, ceil_mode != 0));
  if (!kMax) {
    for (int64_t d : g.dilation) {
      if (d != 1) return absl::InvalidArgumentError("AveragePool dilations are not supported");
    }
  }
  const int64_t s = g.spatial();
  Shape out_shape = {x.shape()[0], x.shape()[1]};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  RETURN_IF_ERROR(CheckAllocation(ElementType::kFloat32, out_shape));
  Tensor y = Tensor::Uninitialized(out_shape);  // both paths write every output
  const bool want_indices = kMax && node.outputs.size() > 1 && node.outputs[1] >= 0;
  Tensor indices = want_indices ? Tensor::Empty(ElementType::kInt64, out_shape) : Tensor();
  const int64_t in_plane = DimProduct(g.in, 0, s), out_plane = DimProduct(g.out, 0, s);
  const int64_t k_size = DimProduct(g.kernel, 0, s);
  const std::vector<int64_t> in_strides = Strides(g.in);
  const float* xp = x.floats().data();
  float* yp = y.mutable_floats().data();
  int64_t* ip = want_indices ? indices.mutable_int64s().data() : nullptr;
  if (s == 2) {
    ParallelFor(x.shape()[0] * x.shape()[1], 1, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        Pool2D<kMax>(xp + plane * in_plane, g, include_pad != 0, yp + plane * out_plane,
                     ip == nullptr ? nullptr : ip + plane * out_plane, plane * in_plane);
      }
    });
    std::vector<Tensor> out;
    out.push_back(std::move(y));
    if (want_indices) out.push_back(std::move(indices));
    return out;
  }
  ParallelFor(x.shape()[0] * x.shape()[1], 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> o(s), k(s);
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* xc = xp + plane * in_plane;
      std::fill(o.begin(), o.end(), 0);
      for (int64_t q = 0; q < out_plane; ++q) {
        float acc = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
        int64_t arg = -1, count = 0, padded = 1;
        if (!kMax) {  // window clipped to the padded input, for count_include_pad
          for (int64_t d = 0; d < s; ++d) {
            const int64_t start = o[d] * g.stride[d] - g.pad_begin[d];
            const int64_t stop = std::min(start + g.kernel[d], g.in[d] + g.pad_end[d]);
            padded *= stop - start;
          }
        }
        std::fill(k.begin(), k.end(), 0);
        for (int64_t kk = 0; kk < k_size; ++kk) {
          int64_t off = 0;
          bool inside = true;
          for (int64_t d = 0; d < s && inside; ++d) {
            const int64_t i = o[d] * g.stride[d] - g.pad_begin[d] + k[d] * g.dilation[d];
            inside = i >= 0 && i < g.in[d];
            off += i * in_strides[d];
          }
          if (inside) {
            const float v = xc[off];
            if (kMax) {
              if (v > acc || arg < 0) {
                acc = v;
                arg = off;
              }
            } else {
              acc += v;
            }
            ++count;
          }
          for (int64_t d = s; d-- > 0;) {
            if (++k[d] < g.kernel[d]) break;
            k[d] = 0;
          }
        }
        if (!kMax)
          acc = acc / static_cast<float>(include_pad ? padded : std::max<int64_t>(count, 1));
        yp[plane * out_plane + q] = acc;
        if (ip != nullptr) ip[plane * out_plane + q] = plane * in_plane + arg;
        for (int64_t d = s; d-- > 0;) {
          if (++o[d] < g.out[d]) break;
          o[d] = 0;
        }
      }
    }
  });
  std::vector<Tensor> out;
  out.push_back(std::move(y));
  if (want_indices) out.push_back(std::move(indices));
  return out;
}

template <bool kMax>
absl::StatusOr<std::vector<Tensor>> RunGlobalPool(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  const Tensor& x = *in[0];
  if (x.rank() < 2) return absl::InvalidArgumentError("X must have rank >= 2");
  Shape out_shape(x.rank(), 1);
  out_shape[0] = x.shape()[0];
  out_shape[1] = x.shape()[1];
  const int64_t planes = out_shape[0] * out_shape[1];
  const int64_t plane = DimProduct(x.shape(), 2, x.shape().size());
  Tensor y = Tensor::Zeros(out_shape);
  for (int64_t p = 0; p < planes; ++p) {
    ConstArrayMap v(x.floats().data() + p * plane, plane);
    y.mutable_floats()[p] = plane == 0 ? 0.0f : (kMax ? v.maxCoeff() : v.mean());
  }
  return One(std::move(y));
}

absl::Status ValidateBatchNorm(const Node& node) {
  RETURN_IF_ERROR(node.attributes.GetFloat("epsilon", 1e-5f).status());
  ASSIGN_OR_RETURN(int64_t training, node.attributes.GetInt("training_mode", 0));
  if (training != 0) {
    return absl::InvalidArgumentError("attribute 'training_mode' = 1 is not supported (inference)");
  }
  ASSIGN_OR_RETURN(int64_t spatial, node.attributes.GetInt("spatial", 1));
  if (spatial != 1) return absl::InvalidArgumentError("attribute 'spatial' = 0 is not supported");
  if (node.outputs.size() > 1) {
    return absl::InvalidArgumentError("only the inference form (one output) is supported");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> RunBatchNorm(const Node& node, KernelInputs in) {
  for (int i = 0; i < 5; ++i) RETURN_IF_ERROR(ExpectFloat(node, in, i));
  const Tensor& x = *in[0];
  if (x.rank() < 2) return absl::InvalidArgumentError("X must have rank >= 2");
  const int64_t c = x.shape()[1];
  for (int i = 1; i < 5; ++i) {
    if (in[i]->size() != c) {
      return absl::InvalidArgumentError(
          absl::StrCat("input #", i, " ('", node.input_names[i], "') must hold ", c, " values"));
    }
  }
  ASSIGN_OR_RETURN(float eps, node.attributes.GetFloat("epsilon", 1e-5f));
  const int64_t plane = DimProduct(x.shape(), 2, x.shape().size());
  Tensor y = Tensor::Uninitialized(x.shape());
  const float* xp = x.floats().data();
  float* yp = y.mutable_floats().data();
  for (int64_t n = 0; n < x.shape()[0]; ++n) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const float scale = in[1]->floats()[ch] / std::sqrt(in[4]->floats()[ch] + eps);
      const float shift = in[2]->floats()[ch] - in[3]->floats()[ch] * scale;
      const int64_t off = (n * c + ch) * plane;
      ArrayMap(yp + off, plane) = ConstArrayMap(xp + off, plane) * scale + shift;
    }
  }
  return One(std::move(y));
}

}  // namespace

void RegisterPoolKernels(OpRegistry& registry) {
  registry.Register("MaxPool", {.min_inputs = 1,
                                .max_inputs = 1,
                                .max_outputs = 2,
                                .validate = ValidatePool,
                                .run = RunPool<true>});
  registry.Register("AveragePool", {.min_inputs = 1,
                                    .max_inputs = 1,
                                    .max_outputs = 1,
                                    .validate = ValidatePool,
                                    .run = RunPool<false>});
  registry.Register("GlobalAveragePool", {.min_inputs = 1,
                                          .max_inputs = 1,
                                          .max_outputs = 1,
                                          .validate = nullptr,
                                          .run = RunGlobalPool<false>});
  registry.Register("GlobalMaxPool", {.min_inputs = 1,
                                      .max_inputs = 1,
                                      .max_outputs = 1,
                                      .validate = nullptr,
                                      .run = RunGlobalPool<true>});
  registry.Register("BatchNormalization", {.min_inputs = 5,
                                           .max_inputs = 5,
                                           .max_outputs = 5,
                                           .validate = ValidateBatchNorm,
                                           .run = RunBatchNorm});
}

}  // namespace stoa::functions::onnx
