// Conv and ConvTranspose on FP32, any number of spatial dimensions, with
// groups, strides, dilations, explicit pads and auto_pad. Conv is im2col +
// Eigen GEMM per (batch, group), split over output positions within the
// thread budget (ParallelFor); a 1x1, stride-1, unpadded Conv skips im2col;
// a 2-D depthwise Conv runs directly (conv_depthwise.h); a Conv with few
// output positions splits its maps instead, with ThinGemm (thin_gemm.h)
// when they are very few. Bias and an
// activation fused at load (activation.h, fusion.h) are applied per output
// plane in one pass. ConvTranspose is GEMM + col2im.
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/activation.h"
#include "functions/onnx/conv_depthwise.h"
#include "functions/onnx/conv_geometry.h"
#include "functions/onnx/im2col.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/parallel.h"
#include "functions/onnx/thin_gemm.h"

namespace stoa::functions::onnx {
namespace {

absl::Status ValidateConv(const Node& node) {
  RETURN_IF_ERROR(ValidateWindowAttributes(node, /*needs_kernel_shape=*/false));
  ASSIGN_OR_RETURN(int64_t group, node.attributes.GetInt("group", 1));
  if (group < 1) return absl::InvalidArgumentError("attribute 'group' must be >= 1");
  RETURN_IF_ERROR(node.attributes.GetInts("output_padding").status());
  return node.attributes.GetInts("output_shape").status();
}

std::vector<int64_t> Tail(const Shape& s, size_t from) { return {s.begin() + from, s.end()}; }

// At most this many output positions: ThinGemm rather than Eigen's GEMM.
constexpr int64_t kThinColumns = 16;

// Output positions per im2col block: the block's rows x width floats
// should stay within about 256 KiB (L2) while the GEMM reads them.
int64_t Im2ColBlock(int64_t rows) {
  const int64_t width = (int64_t{64} * 1024) / std::max<int64_t>(rows, 1);
  return std::max<int64_t>(64, width / 16 * 16);
}

// The epilogue of one block of a GEMM's output: rows m of `rows` maps
// starting at map m0, `width` values each, `stride` apart.
struct Epilogue {
  const float* bias;  // per map, or null
  const Activation* act;
  bool Needed() const {
    return bias != nullptr || act->kind != ActivationKind::kNone || act->post_scale != 1.0f ||
           act->post_shift != 0.0f || act->post_min != -std::numeric_limits<float>::infinity() ||
           act->post_max != std::numeric_limits<float>::infinity();
  }
  void Apply(float* y, int64_t m0, int64_t rows, int64_t width, int64_t stride) const {
    if (!Needed()) return;
    for (int64_t m = 0; m < rows; ++m) {
      ApplyBiasActivation(*act, bias != nullptr, bias != nullptr ? bias[m0 + m] : 0.0f,
                          y + m * stride, width);
    }
  }
};

// Output positions [b0, b1) of group gi (over the whole batch): im2col into
// col, then one GEMM, into y directly when `direct` (batch 1: positions are
// contiguous in each output map); bias and activation while the block is in
// cache.
void ConvBlock(const float* xp, int64_t channels, int64_t maps, int64_t cg, int64_t gi,
               const WindowGeometry& g, const ConstMatrixMap& wm, int64_t b0, int64_t b1,
               int64_t in_plane, int64_t out_plane, bool direct, const Epilogue& epilogue,
               float* col, float* yp) {
  const int64_t width = b1 - b0, rows = wm.cols(), mg = wm.rows();
  for (int64_t q = b0; q < b1;) {
    const int64_t n = q / out_plane, p0 = q % out_plane;
    const int64_t p1 = std::min(out_plane, p0 + (b1 - q));
    Im2Col(xp + (n * channels + gi * cg) * in_plane, cg, g, p0, p1, col + (q - b0), width);
    q += p1 - p0;
  }
  if (direct) {
    Eigen::Map<RowMajorMatrix, 0, Eigen::OuterStride<>> ym(yp + gi * mg * out_plane + b0, mg, width,
                                                           Eigen::OuterStride<>(out_plane));
    ym.noalias() = wm * ConstMatrixMap(col, rows, width);
    epilogue.Apply(yp + gi * mg * out_plane + b0, gi * mg, mg, width, out_plane);
    return;
  }
  RowMajorMatrix product(mg, width);
  product.noalias() = wm * ConstMatrixMap(col, rows, width);
  epilogue.Apply(product.data(), gi * mg, mg, width, width);
  for (int64_t q = b0; q < b1;) {
    const int64_t n = q / out_plane, p0 = q % out_plane;
    const int64_t p1 = std::min(out_plane, p0 + (b1 - q));
    for (int64_t m = 0; m < mg; ++m) {
      std::memcpy(yp + (n * maps + gi * mg + m) * out_plane + p0,
                  product.data() + m * width + (q - b0), (p1 - p0) * sizeof(float));
    }
    q += p1 - p0;
  }
}

// The operands Conv and ConvTranspose share: float X and W of one rank >= 3.
absl::Status CheckConvOperands(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  RETURN_IF_ERROR(ExpectFloat(node, in, 1));
  const Tensor& x = *in[0];
  const Tensor& w = *in[1];
  if (x.rank() < 3 || w.rank() != x.rank()) {
    return absl::InvalidArgumentError(absl::StrCat("X ", ShapeString(x.shape()), " and W ",
                                                   ShapeString(w.shape()),
                                                   " must have the same rank >= 3"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> RunConv(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(CheckConvOperands(node, in));
  const Tensor& x = *in[0];
  const Tensor& w = *in[1];
  ASSIGN_OR_RETURN(int64_t group, node.attributes.GetInt("group", 1));
  const int64_t batch = x.shape()[0], channels = x.shape()[1], maps = w.shape()[0];
  if (channels % group != 0 || maps % group != 0 || w.shape()[1] * group != channels) {
    return absl::InvalidArgumentError(absl::StrCat("X ", ShapeString(x.shape()), ", W ",
                                                   ShapeString(w.shape()), " and group ", group,
                                                   " disagree on channels"));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> kernel_attr, node.attributes.GetInts("kernel_shape"));
  std::vector<int64_t> kernel = Tail(w.shape(), 2);
  if (!kernel_attr.empty() && kernel_attr != kernel) {
    return absl::InvalidArgumentError(absl::StrCat("kernel_shape ", ShapeString(kernel_attr),
                                                   " differs from W ", ShapeString(w.shape())));
  }
  ASSIGN_OR_RETURN(WindowGeometry g, ResolveWindow(node, Tail(x.shape(), 2), kernel, false));
  const Tensor* bias = HasInput(in, 2) ? in[2] : nullptr;
  if (bias != nullptr) {
    RETURN_IF_ERROR(ExpectFloat(node, in, 2));
    if (bias->size() != maps) {
      return absl::InvalidArgumentError(
          absl::StrCat("B ", ShapeString(bias->shape()), " must hold ", maps, " values"));
    }
  }
  ASSIGN_OR_RETURN(const Activation act, ActivationOf(node));
  Shape out_shape = {batch, maps};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  RETURN_IF_ERROR(CheckAllocation(ElementType::kFloat32, out_shape));
  Tensor y = Tensor::Uninitialized(out_shape);  // every path writes every element
  if (IsDepthwise2D(channels, group, g)) {
    DepthwiseConv2D(x.floats().data(), w.floats().data(),
                    bias != nullptr ? bias->floats().data() : nullptr, act, batch, channels, maps,
                    g, y.mutable_floats().data());
    return One(std::move(y));
  }

  const int64_t cg = channels / group, mg = maps / group;
  const int64_t k_size = DimProduct(kernel, 0, kernel.size());
  const int64_t rows = cg * k_size;
  const int64_t in_plane = DimProduct(g.in, 0, g.in.size());
  const int64_t out_plane = DimProduct(g.out, 0, g.out.size());
  bool pointwise = k_size == 1;
  for (int64_t d = 0; d < g.spatial(); ++d) {
    pointwise = pointwise && g.stride[d] == 1 && g.pad_begin[d] == 0 && g.pad_end[d] == 0;
  }
  const float* xp = x.floats().data();
  const float* wp = w.floats().data();
  float* yp = y.mutable_floats().data();
  const Epilogue epilogue{.bias = bias != nullptr ? bias->floats().data() : nullptr, .act = &act};
  if (pointwise) {
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t gi = 0; gi < group; ++gi) {
        const float* xg = xp + (n * channels + gi * cg) * in_plane;
        float* yg = yp + (n * maps + gi * mg) * out_plane;
        ConstMatrixMap wm(wp + gi * mg * rows, mg, rows);
        ParallelFor(out_plane, 64, [&](int64_t begin, int64_t end) {
          const int64_t width = end - begin;
          Eigen::Map<RowMajorMatrix, 0, Eigen::OuterStride<>> ym(yg + begin, mg, width,
                                                                 Eigen::OuterStride<>(out_plane));
          Eigen::Map<const RowMajorMatrix, 0, Eigen::OuterStride<>> xm(
              xg + begin, rows, width, Eigen::OuterStride<>(in_plane));
          ym.noalias() = wm * xm;
          epilogue.Apply(yg + begin, gi * mg, mg, width, out_plane);
        });
      }
    }
  } else if (batch == 1 && (out_plane <= kThinColumns ||
                            (out_plane < 2 * 64 && mg >= 2 * 32 && ParallelThreads() > 1))) {
    // Too few output positions to split, or to be worth Eigen's packing of
    // W (an STFT as a strided Conv over 8 frames): the maps split over the
    // thread budget. A 1-D window of one channel without padding is read in
    // place; otherwise one im2col (transposed for ThinGemm).
    const bool thin = out_plane <= kThinColumns;
    const bool in_place = thin && g.spatial() == 1 && cg == 1 && g.dilation[0] == 1 &&
                          g.pad_begin[0] == 0 && g.pad_end[0] == 0;
    std::unique_ptr<float[]> col(in_place ? nullptr : new float[2 * rows * out_plane]);
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* bt = xp + gi * cg * in_plane;
      if (!in_place) {
        Im2Col(bt, cg, g, 0, out_plane, col.get(), out_plane);
        if (thin) {
          Eigen::Map<RowMajorMatrix>(col.get() + rows * out_plane, out_plane, rows) =
              ConstMatrixMap(col.get(), rows, out_plane).transpose();
        }
        bt = col.get() + rows * out_plane;
      }
      const int64_t ldb = in_place ? g.stride[0] : rows;
      ConstMatrixMap wm(wp + gi * mg * rows, mg, rows);
      ParallelFor(mg, 32, [&](int64_t m0, int64_t m1) {
        float* ym = yp + (gi * mg + m0) * out_plane;
        if (thin) {
          ThinGemm(wm.data() + m0 * rows, m1 - m0, rows, bt, ldb, out_plane, ym, out_plane);
        } else {
          Eigen::Map<RowMajorMatrix>(ym, m1 - m0, out_plane).noalias() =
              wm.middleRows(m0, m1 - m0) * ConstMatrixMap(col.get(), rows, out_plane);
        }
        epilogue.Apply(ym, gi * mg + m0, m1 - m0, out_plane, out_plane);
      });
    }
  } else {
    // One GEMM per group over the output positions of the whole batch:
    // columns are (n, position) pairs, split over the thread budget and,
    // within a thread, into blocks whose im2col matrix stays in cache.
    const int64_t total = batch * out_plane;
    const int64_t block = Im2ColBlock(rows);
    for (int64_t gi = 0; gi < group; ++gi) {
      ConstMatrixMap wm(wp + gi * mg * rows, mg, rows);
      ParallelFor(total, 64, [&](int64_t begin, int64_t end) {
        // Every element is written by Im2Col: no zero-fill.
        std::unique_ptr<float[]> col(new float[rows * std::min(block, end - begin)]);
        for (int64_t b0 = begin; b0 < end; b0 += block) {
          const int64_t b1 = std::min(end, b0 + block);
          ConvBlock(xp, channels, maps, cg, gi, g, wm, b0, b1, in_plane, out_plane, batch == 1,
                    epilogue, col.get(), yp);
        }
      });
    }
  }
  return One(std::move(y));
}

// ConvTranspose's scatter for 2-D: adds row r = (m, kh, kw) of col
// (one value per input position) into output map m, shifted by the kernel
// offset; one row of input positions at a time.
void Col2Im2D(const RowMajorMatrix& col, const std::vector<int64_t>& in,
              const std::vector<int64_t>& kernel, const std::vector<int64_t>& out,
              const std::vector<int64_t>& stride, const std::vector<int64_t>& dilation,
              const std::vector<int64_t>& pad_begin, float* y) {
  const int64_t k_size = kernel[0] * kernel[1], out_plane = out[0] * out[1];
  for (int64_t r = 0; r < col.rows(); ++r) {
    const int64_t m = r / k_size, kh = (r % k_size) / kernel[1], kw = r % kernel[1];
    float* ym = y + m * out_plane;
    const float* src = col.data() + r * col.cols();
    const int64_t dw = kw * dilation[1] - pad_begin[1];
    int64_t lo = dw >= 0 ? 0 : (-dw + stride[1] - 1) / stride[1];
    int64_t hi = out[1] - 1 - dw < 0 ? 0 : std::min(in[1], (out[1] - 1 - dw) / stride[1] + 1);
    lo = std::min(lo, hi);
    for (int64_t ih = 0; ih < in[0]; ++ih) {
      const int64_t oh = ih * stride[0] - pad_begin[0] + kh * dilation[0];
      if (oh < 0 || oh >= out[0]) continue;
      float* row = ym + oh * out[1];
      const float* x = src + ih * in[1];
      for (int64_t iw = lo; iw < hi; ++iw) row[iw * stride[1] + dw] += x[iw];
    }
  }
}

absl::StatusOr<std::vector<Tensor>> RunConvTranspose(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(CheckConvOperands(node, in));
  const Tensor& x = *in[0];
  const Tensor& w = *in[1];
  ASSIGN_OR_RETURN(int64_t group, node.attributes.GetInt("group", 1));
  const int64_t batch = x.shape()[0], channels = x.shape()[1];
  if (w.shape()[0] != channels || channels % group != 0) {
    return absl::InvalidArgumentError(absl::StrCat("X ", ShapeString(x.shape()), ", W ",
                                                   ShapeString(w.shape()), " and group ", group,
                                                   " disagree on channels"));
  }
  const int64_t mg = w.shape()[1], maps = mg * group, cg = channels / group;
  const std::vector<int64_t> in_dims = Tail(x.shape(), 2);
  const std::vector<int64_t> kernel = Tail(w.shape(), 2);
  const size_t s = in_dims.size();
  const Attributes& a = node.attributes;
  ASSIGN_OR_RETURN(std::string auto_pad, a.GetString("auto_pad", "NOTSET"));
  ASSIGN_OR_RETURN(std::vector<int64_t> stride, a.GetInts("strides"));
  ASSIGN_OR_RETURN(std::vector<int64_t> dilation, a.GetInts("dilations"));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, a.GetInts("pads"));
  ASSIGN_OR_RETURN(std::vector<int64_t> out_pad, a.GetInts("output_padding"));
  ASSIGN_OR_RETURN(std::vector<int64_t> out_shape_attr, a.GetInts("output_shape"));
  if (stride.empty()) stride.assign(s, 1);
  if (dilation.empty()) dilation.assign(s, 1);
  if (pads.empty()) pads.assign(2 * s, 0);
  if (out_pad.empty()) out_pad.assign(s, 0);
  if (out_shape_attr.size() == s + 2)
    out_shape_attr.erase(out_shape_attr.begin(), out_shape_attr.begin() + 2);
  if (stride.size() != s || dilation.size() != s || pads.size() != 2 * s || out_pad.size() != s ||
      (!out_shape_attr.empty() && out_shape_attr.size() != s)) {
    return absl::InvalidArgumentError(
        "strides, dilations, pads, output_padding or output_shape "
        "disagree with the input's spatial rank");
  }
  std::vector<int64_t> out(s), pad_begin(s);
  for (size_t d = 0; d < s; ++d) {
    const int64_t full =
        stride[d] * (in_dims[d] - 1) + out_pad[d] + (kernel[d] - 1) * dilation[d] + 1;
    if (!out_shape_attr.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out[d] = out_shape_attr.empty() ? in_dims[d] * stride[d] : out_shape_attr[d];
      const int64_t total = std::max<int64_t>(0, full - out[d]);
      pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    } else {
      pad_begin[d] = auto_pad == "VALID" ? 0 : pads[d];
      const int64_t pad_end = auto_pad == "VALID" ? 0 : pads[d + s];
      out[d] = full - pad_begin[d] - pad_end;
    }
    if (out[d] <= 0) return absl::InvalidArgumentError("output would be empty");
  }
  Shape y_shape = {batch, maps};
  y_shape.insert(y_shape.end(), out.begin(), out.end());
  RETURN_IF_ERROR(CheckAllocation(ElementType::kFloat32, y_shape));
  Tensor y = Tensor::Zeros(y_shape);
  const int64_t in_plane = DimProduct(in_dims, 0, s), out_plane = DimProduct(out, 0, s);
  const int64_t k_size = DimProduct(kernel, 0, s);
  const std::vector<int64_t> out_strides = Strides(out);
  const float* xp = x.floats().data();
  const float* wp = w.floats().data();
  float* yp = y.mutable_floats().data();
  RowMajorMatrix col(mg * k_size, in_plane);
  std::vector<int64_t> k(s), i(s);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      ConstMatrixMap wm(wp + gi * cg * mg * k_size, cg, mg * k_size);
      ConstMatrixMap xm(xp + (n * channels + gi * cg) * in_plane, cg, in_plane);
      col.noalias() = wm.transpose() * xm;
      float* yg = yp + (n * maps + gi * mg) * out_plane;
      if (s == 2) {
        Col2Im2D(col, in_dims, kernel, out, stride, dilation, pad_begin, yg);
        continue;
      }
      for (int64_t r = 0; r < mg * k_size; ++r) {
        const int64_t m = r / k_size;
        int64_t kr = r % k_size;
        for (size_t d = s; d-- > 0;) {
          k[d] = kr % kernel[d];
          kr /= kernel[d];
        }
        std::fill(i.begin(), i.end(), 0);
        for (int64_t p = 0; p < in_plane; ++p) {
          int64_t off = 0;
          bool inside = true;
          for (size_t d = 0; d < s && inside; ++d) {
            const int64_t o = i[d] * stride[d] - pad_begin[d] + k[d] * dilation[d];
            inside = o >= 0 && o < out[d];
            off += o * out_strides[d];
          }
          if (inside) yg[m * out_plane + off] += col(r, p);
          for (size_t d = s; d-- > 0;) {
            if (++i[d] < in_dims[d]) break;
            i[d] = 0;
          }
        }
      }
    }
  }
  if (HasInput(in, 2)) {
    RETURN_IF_ERROR(ExpectFloat(node, in, 2));
    if (in[2]->size() != maps) {
      return absl::InvalidArgumentError(absl::StrCat("B must hold ", maps, " values"));
    }
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t m = 0; m < maps; ++m) {
        ArrayMap(yp + (n * maps + m) * out_plane, out_plane) += in[2]->floats()[m];
      }
    }
  }
  return One(std::move(y));
}

}  // namespace

absl::StatusOr<std::vector<Tensor>> RunFp32Conv(const Node& node, KernelInputs inputs) {
  return RunConv(node, inputs);
}

void RegisterConvKernels(OpRegistry& registry) {
  registry.Register("Conv", {.min_inputs = 2,
                             .max_inputs = 3,
                             .max_outputs = 1,
                             .validate = ValidateConv,
                             .run = RunConv});
  registry.Register("ConvTranspose", {.min_inputs = 2,
                                      .max_inputs = 3,
                                      .max_outputs = 1,
                                      .validate = ValidateConv,
                                      .run = RunConvTranspose});
}

}  // namespace stoa::functions::onnx
