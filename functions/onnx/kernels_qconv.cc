// ConvInteger and QLinearConv: Conv's geometry (groups, strides, dilations,
// pads, auto_pad; conv_geometry.h) over UINT8/INT8 x and w with int32
// accumulation. The zero-point-shifted operands are integers in
// [-255, 255]; the FP32 Conv kernel (im2col + GEMM, 1x1 as GEMM, direct
// depthwise) computes their convolution exactly as long as partial sums stay
// below 2^24, which is checked from the operands (quant_util.h); past that
// bound the input channels are split into chunks that stay under it and the
// chunks' results are added in int32. Padding contributes x's zero point,
// i.e. 0 after the shift, as ONNX specifies.
//
// Accepted forms: x's zero point (and QLinearConv's x scale) per tensor; w's
// scale and zero point per tensor or per output channel (M values); y's per
// tensor; QLinearConv's bias B INT32 with M values, added to the
// accumulators before requantization.
#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/conv_geometry.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/quant_util.h"

namespace stoa::functions::onnx {
namespace {

absl::Status ValidateQConv(const Node& node) {
  RETURN_IF_ERROR(ValidateWindowAttributes(node, /*needs_kernel_shape=*/false));
  ASSIGN_OR_RETURN(int64_t group, node.attributes.GetInt("group", 1));
  if (group < 1) return absl::InvalidArgumentError("attribute 'group' must be >= 1");
  return absl::OkStatus();
}

absl::Status CheckOperands(const Tensor& x, const Tensor& w, int64_t group) {
  if (x.rank() < 3 || w.rank() != x.rank()) {
    return absl::InvalidArgumentError(absl::StrCat("x ", ShapeString(x.shape()), " and w ",
                                                   ShapeString(w.shape()),
                                                   " must have the same rank >= 3"));
  }
  const int64_t channels = x.shape()[1], maps = w.shape()[0];
  if (maps % group != 0 || w.shape()[1] * group != channels) {
    return absl::InvalidArgumentError(absl::StrCat("x ", ShapeString(x.shape()), ", w ",
                                                   ShapeString(w.shape()), " and group ", group,
                                                   " disagree on channels"));
  }
  return absl::OkStatus();
}

// Channels [c0, c1) of every batch item of a float [N, C, ...] buffer.
Tensor ChannelSlice(const std::vector<float>& v, const Shape& shape, int64_t c0, int64_t c1) {
  const int64_t plane = DimProduct(shape, 2, shape.size());
  Shape out_shape = shape;
  out_shape[1] = c1 - c0;
  std::vector<float> out;
  out.reserve(static_cast<size_t>(shape[0] * (c1 - c0) * plane));
  for (int64_t n = 0; n < shape[0]; ++n) {
    const float* base = v.data() + (n * shape[1] + c0) * plane;
    out.insert(out.end(), base, base + (c1 - c0) * plane);
  }
  return Tensor::Float(std::move(out_shape), std::move(out));
}

// w rows [m0, m1) restricted to input channels [c0, c1).
Tensor WeightSlice(const std::vector<float>& w, const Shape& shape, int64_t m0, int64_t m1,
                   int64_t c0, int64_t c1) {
  const int64_t k_size = DimProduct(shape, 2, shape.size());
  Shape out_shape = shape;
  out_shape[0] = m1 - m0;
  out_shape[1] = c1 - c0;
  std::vector<float> out;
  out.reserve(static_cast<size_t>((m1 - m0) * (c1 - c0) * k_size));
  for (int64_t m = m0; m < m1; ++m) {
    const float* base = w.data() + (m * shape[1] + c0) * k_size;
    out.insert(out.end(), base, base + (c1 - c0) * k_size);
  }
  return Tensor::Float(std::move(out_shape), std::move(out));
}

// acc[:, m0 + j, ...] (+)= part[:, j, ...], part holding exact integers.
void AddMaps(const Tensor& part, int64_t m0, bool first, Tensor& acc) {
  const Shape& ps = part.shape();
  const int64_t plane = DimProduct(ps, 2, ps.size());
  const int64_t maps = acc.shape()[1], width = ps[1] * plane;
  int32_t* ap = reinterpret_cast<int32_t*>(acc.mutable_raw());
  const float* pp = part.floats().data();
  for (int64_t n = 0; n < ps[0]; ++n) {
    int32_t* dst = ap + (n * maps + m0) * plane;
    const float* src = pp + n * width;
    if (first) {
      for (int64_t i = 0; i < width; ++i) dst[i] = static_cast<int32_t>(src[i]);
    } else {
      for (int64_t i = 0; i < width; ++i) dst[i] += static_cast<int32_t>(src[i]);
    }
  }
}

// The convolution of shifted xf and wf, one group and one chunk of its
// input channels ([chunks[j], chunks[j+1]) within the group) at a time,
// each an FP32 Conv whose sums stay exact, added up in int32.
absl::StatusOr<Tensor> ChunkedConv(const Node& node, const std::vector<float>& xf,
                                   const Shape& x_shape, const std::vector<float>& wf,
                                   const Shape& w_shape, int64_t group,
                                   const std::vector<int64_t>& chunks) {
  Node sub = node;
  sub.attributes.Set("group", int64_t{1});
  const int64_t maps = w_shape[0], cg = w_shape[1], mg = maps / group;
  std::optional<Tensor> acc;
  for (int64_t gi = 0; gi < group; ++gi) {
    for (size_t j = 0; j + 1 < chunks.size(); ++j) {
      const int64_t c0 = chunks[j], c1 = chunks[j + 1];
      const Tensor xs = ChannelSlice(xf, x_shape, gi * cg + c0, gi * cg + c1);
      const Tensor ws = WeightSlice(wf, w_shape, gi * mg, (gi + 1) * mg, c0, c1);
      const Tensor* args[] = {&xs, &ws};
      ASSIGN_OR_RETURN(std::vector<Tensor> out, RunFp32Conv(sub, args));
      if (!acc.has_value()) {
        Shape shape = out[0].shape();
        shape[1] = maps;
        RETURN_IF_ERROR(CheckAllocation(ElementType::kInt32, shape));
        acc = Tensor::Empty(ElementType::kInt32, shape);
      }
      AddMaps(out[0], gi * mg, j == 0, *acc);
    }
  }
  return *std::move(acc);
}

// The int32 convolution of shifted x (x_zp per tensor) and shifted w
// (w_zp per tensor or per output map), with node's window attributes.
absl::StatusOr<Tensor> IntegerConv(const Node& node, const Tensor& x, int32_t x_zp, const Tensor& w,
                                   std::span<const int32_t> w_zp) {
  ASSIGN_OR_RETURN(const int64_t group, node.attributes.GetInt("group", 1));
  RETURN_IF_ERROR(CheckOperands(x, w, group));
  const int64_t maps = w.shape()[0], cg = w.shape()[1];
  const int64_t k_size = DimProduct(w.shape(), 2, w.shape().size());
  std::vector<float> xf = ShiftedFloats(x, std::span<const int32_t>(&x_zp, 1), 1);
  std::vector<float> wf = ShiftedFloats(w, w_zp, cg * k_size);
  // cost[m][c]: sum over the window of |w|; a chunk of channels is exact
  // when max|x| times its largest per-map sum stays below 2^24.
  const int64_t amax = MaxAbs(xf);
  std::vector<int64_t> channel_cost(static_cast<size_t>(cg), 0);
  int64_t worst_map = 0;
  for (int64_t m = 0; m < maps; ++m) {
    int64_t map_sum = 0;
    for (int64_t c = 0; c < cg; ++c) {
      float window = 0.0f;  // at most k_size * 255: exact in FP32 for any sane kernel
      const float* row = wf.data() + (m * cg + c) * k_size;
      for (int64_t i = 0; i < k_size; ++i) window += std::abs(row[i]);
      const auto sum = static_cast<int64_t>(window);
      channel_cost[c] = std::max(channel_cost[c], sum);
      map_sum += sum;
    }
    worst_map = std::max(worst_map, map_sum);
  }
  if (amax * worst_map < kExactFloatSum) {  // the common case: one FP32 Conv
    Tensor xt = Tensor::Float(x.shape(), std::move(xf));
    Tensor wt = Tensor::Float(w.shape(), std::move(wf));
    const Tensor* args[] = {&xt, &wt};
    ASSIGN_OR_RETURN(std::vector<Tensor> out, RunFp32Conv(node, args));
    RETURN_IF_ERROR(CheckAllocation(ElementType::kInt32, out[0].shape()));
    Tensor acc = Tensor::Empty(ElementType::kInt32, out[0].shape());
    AddMaps(out[0], 0, true, acc);
    Recycle(std::move(out[0]));
    Recycle(std::move(xt));
    Recycle(std::move(wt));
    return acc;
  }
  ASSIGN_OR_RETURN(const std::vector<int64_t> chunks, ExactChunks(channel_cost, amax));
  ASSIGN_OR_RETURN(Tensor acc, ChunkedConv(node, xf, x.shape(), wf, w.shape(), group, chunks));
  Recycle(std::move(xf));
  Recycle(std::move(wf));
  return acc;
}

absl::StatusOr<std::vector<Tensor>> RunConvInteger(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectQuantized(node, in, 0));
  RETURN_IF_ERROR(ExpectQuantized(node, in, 1));
  const Tensor& x = *in[0];
  const Tensor& w = *in[1];
  if (w.rank() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("w ", ShapeString(w.shape()), " must have rank >= 3"));
  }
  ASSIGN_OR_RETURN(const std::vector<int32_t> x_zp, ReadZeroPoint(node, in, 2, x.type(), 1));
  ASSIGN_OR_RETURN(const std::vector<int32_t> w_zp,
                   ReadZeroPoint(node, in, 3, w.type(), w.shape()[0]));
  ASSIGN_OR_RETURN(Tensor y, IntegerConv(node, x, x_zp[0], w, w_zp));
  return One(std::move(y));
}

// Inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
// y_zero_point, B (optional).
absl::StatusOr<std::vector<Tensor>> RunQLinearConv(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectQuantized(node, in, 0));
  RETURN_IF_ERROR(ExpectQuantized(node, in, 3));
  RETURN_IF_ERROR(ExpectQuantized(node, in, 7));
  const Tensor& x = *in[0];
  const Tensor& w = *in[3];
  if (w.rank() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("w ", ShapeString(w.shape()), " must have rank >= 3"));
  }
  const int64_t maps = w.shape()[0];
  ASSIGN_OR_RETURN(const std::vector<float> x_scale, ReadScale(node, in, 1, 1));
  ASSIGN_OR_RETURN(const std::vector<int32_t> x_zp, ReadZeroPoint(node, in, 2, x.type(), 1));
  ASSIGN_OR_RETURN(const std::vector<float> w_scale, ReadScale(node, in, 4, maps));
  ASSIGN_OR_RETURN(const std::vector<int32_t> w_zp, ReadZeroPoint(node, in, 5, w.type(), maps));
  ASSIGN_OR_RETURN(const std::vector<float> y_scale, ReadScale(node, in, 6, 1));
  const ElementType out_type = in[7]->type();
  ASSIGN_OR_RETURN(const std::vector<int32_t> y_zp, ReadZeroPoint(node, in, 7, out_type, 1));
  const Tensor* bias = HasInput(in, 8) ? in[8] : nullptr;
  if (bias != nullptr && (bias->type() != ElementType::kInt32 || bias->size() != maps)) {
    return absl::InvalidArgumentError(absl::StrCat("bias B is ", ElementTypeName(bias->type()), " ",
                                                   ShapeString(bias->shape()),
                                                   "; expected INT32 with ", maps, " values"));
  }
  ASSIGN_OR_RETURN(Tensor acc, IntegerConv(node, x, x_zp[0], w, w_zp));
  const int64_t plane = DimProduct(acc.shape(), 2, acc.shape().size());
  std::span<int32_t> av(reinterpret_cast<int32_t*>(acc.mutable_raw()),
                        static_cast<size_t>(acc.size()));
  if (bias != nullptr) {
    const std::span<const int32_t> bv = bias->int32s();
    for (int64_t p = 0; p * plane < acc.size(); ++p) {
      const int32_t b = bv[p % maps];
      for (int32_t& v : av.subspan(p * plane, plane)) v += b;
    }
  }
  std::vector<float> multiplier(static_cast<size_t>(maps));
  for (int64_t m = 0; m < maps; ++m) {
    multiplier[m] = x_scale[0] * w_scale[w_scale.size() == 1 ? 0 : m] / y_scale[0];
  }
  const std::vector<int32_t> zp(static_cast<size_t>(maps), y_zp[0]);
  RETURN_IF_ERROR(CheckAllocation(out_type, acc.shape()));
  Tensor y = Tensor::Empty(out_type, acc.shape());
  Requantize(av, multiplier, zp, std::max<int64_t>(plane, 1), y);
  return One(std::move(y));
}

}  // namespace

void RegisterQConvKernels(OpRegistry& registry) {
  registry.Register("ConvInteger", {.min_inputs = 2,
                                    .max_inputs = 4,
                                    .max_outputs = 1,
                                    .validate = ValidateQConv,
                                    .run = RunConvInteger});
  registry.Register("QLinearConv", {.min_inputs = 8,
                                    .max_inputs = 9,
                                    .max_outputs = 1,
                                    .validate = ValidateQConv,
                                    .run = RunQLinearConv});
}

}  // namespace stoa::functions::onnx
