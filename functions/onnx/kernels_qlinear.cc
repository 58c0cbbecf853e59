// MatMulInteger and QLinearMatMul: numpy matmul (batch dimensions
// broadcast, 1-D operands promoted) over UINT8/INT8 operands with int32
// accumulation, computed as an FP32 GEMM on zero-point-shifted operands that
// is exact by construction (quant_util.h). MatMulInteger returns the int32
// accumulators; QLinearMatMul requantizes them to y's type with
// a_scale * b_scale / y_scale, rounding half to even and saturating.
//
// Accepted forms: a's zero point per tensor or per row (M values, MatMulInteger
// only; QLinearMatMul takes a per tensor); b's scale and zero point per
// tensor or per column (N values); y's scale and zero point per tensor or per
// column.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/parallel.h"
#include "functions/onnx/quant_util.h"

namespace stoa::functions::onnx {
namespace {

using Int32Matrix = Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The matmul geometry of a [.., M, K] x [.., K, N] product.
struct MatMulShape {
  int64_t m = 1, k = 1, n = 1;
  Shape batch, out;
  std::vector<int64_t> a_strides, b_strides;  // per batch dim, in elements
};

absl::StatusOr<MatMulShape> ResolveMatMul(const Tensor& a, const Tensor& b) {
  if (a.rank() == 0 || b.rank() == 0) {
    return absl::InvalidArgumentError("matmul operands must have rank >= 1");
  }
  Shape as = a.shape(), bs = b.shape();
  const bool drop_m = as.size() == 1, drop_n = bs.size() == 1;
  if (drop_m) as.insert(as.begin(), 1);
  if (drop_n) bs.push_back(1);
  MatMulShape s;
  s.m = as[as.size() - 2];
  s.k = as.back();
  s.n = bs.back();
  if (s.k != bs[bs.size() - 2]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inner dimensions differ: ", ShapeString(a.shape()), " x ", ShapeString(b.shape())));
  }
  const std::span<const int64_t> a_batch(as.data(), as.size() - 2);
  const std::span<const int64_t> b_batch(bs.data(), bs.size() - 2);
  ASSIGN_OR_RETURN(s.batch, BroadcastShapes(a_batch, b_batch));
  s.a_strides = BroadcastStrides(a_batch, s.batch);
  s.b_strides = BroadcastStrides(b_batch, s.batch);
  for (auto& v : s.a_strides) v *= s.m * s.k;
  for (auto& v : s.b_strides) v *= s.k * s.n;
  s.out = s.batch;
  if (!drop_m) s.out.push_back(s.m);
  if (!drop_n) s.out.push_back(s.n);
  return s;
}

// The reduction (K) split so that FP32 partial sums stay exact: one chunk
// when max|a| times the largest column L1 norm of b is below 2^24. The
// column sums accumulate in FP32, exact below 2^24 (and when they pass it,
// amax * sum does too unless a is all zero points, where any split is exact).
absl::StatusOr<std::vector<int64_t>> ReductionChunks(const MatMulShape& s,
                                                     std::span<const float> af,
                                                     std::span<const float> bf) {
  const int64_t amax = MaxAbs(af);
  const size_t plane = static_cast<size_t>(s.k * s.n);
  float worst_column = 0.0f;
  std::vector<float> column(static_cast<size_t>(s.n));
  for (size_t base = 0; base < bf.size(); base += plane) {
    std::fill(column.begin(), column.end(), 0.0f);
    for (int64_t kk = 0; kk < s.k; ++kk) {
      const float* row = bf.data() + base + kk * s.n;
      for (int64_t j = 0; j < s.n; ++j) column[j] += std::abs(row[j]);
    }
    for (float c : column) worst_column = std::max(worst_column, c);
  }
  if (static_cast<double>(amax) * worst_column < static_cast<double>(kExactFloatSum)) {
    return std::vector<int64_t>{0, s.k};
  }
  std::vector<int64_t> row_max(static_cast<size_t>(s.k), 0);
  for (size_t base = 0; base < bf.size(); base += plane) {
    for (int64_t kk = 0; kk < s.k; ++kk) {
      const float* row = bf.data() + base + kk * s.n;
      for (int64_t j = 0; j < s.n; ++j) {
        row_max[kk] = std::max(row_max[kk], static_cast<int64_t>(std::abs(row[j])));
      }
    }
  }
  return ExactChunks(row_max, amax);
}

// int32 (A - a_zp) x (B - b_zp); a_zp has 1 or M values, b_zp 1 or N.
absl::StatusOr<Tensor> IntegerMatMul(const Tensor& a, std::span<const int32_t> a_zp,
                                     const Tensor& b, std::span<const int32_t> b_zp,
                                     const MatMulShape& s) {
  RETURN_IF_ERROR(CheckAllocation(ElementType::kInt32, s.out));
  std::vector<float> af = ShiftedFloats(a, a_zp, s.k);
  std::vector<float> bf = ShiftedFloats(b, b_zp, 1);
  ASSIGN_OR_RETURN(const std::vector<int64_t> chunks, ReductionChunks(s, af, bf));
  Tensor y = Tensor::Empty(ElementType::kInt32, s.out);
  int32_t* yp = reinterpret_cast<int32_t*>(y.mutable_raw());
  const int64_t m = s.m, k = s.k, n = s.n;
  ForEachBroadcast(s.batch, s.a_strides, s.b_strides, [&](int64_t i, int64_t ao, int64_t bo) {
    ConstMatrixMap am(af.data() + ao, m, k), bm(bf.data() + bo, k, n);
    Eigen::Map<Int32Matrix> ym(yp + i * m * n, m, n);
    ParallelFor(m, 16, [&](int64_t begin, int64_t end) {
      RowMajorMatrix part(end - begin, n);
      for (size_t c = 0; c + 1 < chunks.size(); ++c) {
        const int64_t k0 = chunks[c], len = chunks[c + 1] - k0;
        part.noalias() = am.block(begin, k0, end - begin, len) * bm.middleRows(k0, len);
        if (c == 0) {
          ym.middleRows(begin, end - begin) = part.cast<int32_t>();
        } else {
          ym.middleRows(begin, end - begin) += part.cast<int32_t>();
        }
      }
    });
  });
  Recycle(std::move(af));
  Recycle(std::move(bf));
  return y;
}

int64_t RowsOf(const Tensor& a) { return a.rank() >= 2 ? a.shape()[a.rank() - 2] : 1; }

absl::StatusOr<std::vector<Tensor>> RunMatMulInteger(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectQuantized(node, in, 0));
  RETURN_IF_ERROR(ExpectQuantized(node, in, 1));
  const Tensor& a = *in[0];
  const Tensor& b = *in[1];
  ASSIGN_OR_RETURN(const MatMulShape s, ResolveMatMul(a, b));
  ASSIGN_OR_RETURN(const std::vector<int32_t> a_zp,
                   ReadZeroPoint(node, in, 2, a.type(), RowsOf(a)));
  ASSIGN_OR_RETURN(const std::vector<int32_t> b_zp, ReadZeroPoint(node, in, 3, b.type(), s.n));
  ASSIGN_OR_RETURN(Tensor y, IntegerMatMul(a, a_zp, b, b_zp, s));
  return One(std::move(y));
}

// Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
// y_zero_point.
absl::StatusOr<std::vector<Tensor>> RunQLinearMatMul(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectQuantized(node, in, 0));
  RETURN_IF_ERROR(ExpectQuantized(node, in, 3));
  RETURN_IF_ERROR(ExpectQuantized(node, in, 7));
  const Tensor& a = *in[0];
  const Tensor& b = *in[3];
  ASSIGN_OR_RETURN(const MatMulShape s, ResolveMatMul(a, b));
  ASSIGN_OR_RETURN(const std::vector<float> a_scale, ReadScale(node, in, 1, 1));
  ASSIGN_OR_RETURN(const std::vector<int32_t> a_zp, ReadZeroPoint(node, in, 2, a.type(), 1));
  ASSIGN_OR_RETURN(const std::vector<float> b_scale, ReadScale(node, in, 4, s.n));
  ASSIGN_OR_RETURN(const std::vector<int32_t> b_zp, ReadZeroPoint(node, in, 5, b.type(), s.n));
  ASSIGN_OR_RETURN(const std::vector<float> y_scale, ReadScale(node, in, 6, s.n));
  const ElementType out_type = in[7]->type();
  ASSIGN_OR_RETURN(const std::vector<int32_t> y_zp, ReadZeroPoint(node, in, 7, out_type, s.n));
  ASSIGN_OR_RETURN(const Tensor acc, IntegerMatMul(a, a_zp, b, b_zp, s));
  // Per column when any of b's or y's parameters is; one value otherwise.
  const size_t channels = std::max({b_scale.size(), y_scale.size(), y_zp.size()});
  std::vector<float> multiplier(channels);
  std::vector<int32_t> zp(channels);
  for (size_t c = 0; c < channels; ++c) {
    const float bs = b_scale[b_scale.size() == 1 ? 0 : c];
    const float ys = y_scale[y_scale.size() == 1 ? 0 : c];
    multiplier[c] = a_scale[0] * bs / ys;
    zp[c] = y_zp[y_zp.size() == 1 ? 0 : c];
  }
  RETURN_IF_ERROR(CheckAllocation(out_type, s.out));
  Tensor y = Tensor::Empty(out_type, s.out);
  const std::span<const int32_t> acc_v(reinterpret_cast<const int32_t*>(acc.raw()),
                                       static_cast<size_t>(acc.size()));
  Requantize(acc_v, multiplier, zp, channels == 1 ? std::max<int64_t>(acc.size(), 1) : 1, y);
  return One(std::move(y));
}

}  // namespace

void RegisterQLinearKernels(OpRegistry& registry) {
  registry.Register("MatMulInteger", {.min_inputs = 2,
                                      .max_inputs = 4,
                                      .max_outputs = 1,
                                      .validate = nullptr,
                                      .run = RunMatMulInteger});
  registry.Register("QLinearMatMul", {.min_inputs = 8,
                                      .max_inputs = 8,
                                      .max_outputs = 1,
                                      .validate = nullptr,
                                      .run = RunQLinearMatMul});
}

}  // namespace stoa::functions::onnx
