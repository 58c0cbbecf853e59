// Gemm and MatMul on Eigen matrix maps over the row-major buffers.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/parallel.h"

namespace stoa::functions::onnx {
namespace {

absl::Status ValidateFlag(const Node& node, const char* name) {
  ASSIGN_OR_RETURN(int64_t v, node.attributes.GetInt(name, 0));
  if (v != 0 && v != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute '", name, "' must be 0 or 1, got ", v));
  }
  return absl::OkStatus();
}

absl::Status ValidateGemm(const Node& node) {
  RETURN_IF_ERROR(node.attributes.GetFloat("alpha", 1.0f).status());
  RETURN_IF_ERROR(node.attributes.GetFloat("beta", 1.0f).status());
  RETURN_IF_ERROR(ValidateFlag(node, "transA"));
  return ValidateFlag(node, "transB");
}

// y += beta * c, with c unidirectionally broadcast to y's [M,N].
absl::Status AddGemmBias(const Tensor& c, float beta, int64_t m, int64_t n, Tensor& y) {
  const Shape out_shape = {m, n};
  absl::StatusOr<Shape> b = BroadcastShapes(c.shape(), out_shape);
  if (!b.ok() || *b != out_shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "C of shape ", ShapeString(c.shape()), " does not broadcast to ", ShapeString(out_shape)));
  }
  std::span<const float> cv = c.floats();
  std::span<float> yv = y.mutable_floats();
  if (c.size() == n && (c.rank() == 1 || c.shape()[0] == 1)) {  // a bias row: the common case
    MatrixMap ym(yv.data(), m, n);
    Eigen::Map<const Eigen::RowVectorXf> row(cv.data(), n);
    ym.rowwise() += beta * row;
    return absl::OkStatus();
  }
  const std::vector<int64_t> y_strides = BroadcastStrides(out_shape, out_shape);
  const std::vector<int64_t> c_strides = BroadcastStrides(c.shape(), out_shape);
  ForEachBroadcast(out_shape, y_strides, c_strides,
                   [&](int64_t i, int64_t, int64_t co) { yv[i] += beta * cv[co]; });
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> RunGemm(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  RETURN_IF_ERROR(ExpectFloat(node, in, 1));
  RETURN_IF_ERROR(ExpectRank(node, in, 0, 2));
  RETURN_IF_ERROR(ExpectRank(node, in, 1, 2));
  ASSIGN_OR_RETURN(float alpha, node.attributes.GetFloat("alpha", 1.0f));
  ASSIGN_OR_RETURN(float beta, node.attributes.GetFloat("beta", 1.0f));
  ASSIGN_OR_RETURN(int64_t trans_a, node.attributes.GetInt("transA", 0));
  ASSIGN_OR_RETURN(int64_t trans_b, node.attributes.GetInt("transB", 0));
  const Tensor& a = *in[0];
  const Tensor& b = *in[1];
  const int64_t m = trans_a ? a.shape()[1] : a.shape()[0];
  const int64_t k = trans_a ? a.shape()[0] : a.shape()[1];
  const int64_t kb = trans_b ? b.shape()[1] : b.shape()[0];
  const int64_t n = trans_b ? b.shape()[0] : b.shape()[1];
  if (k != kb) {
    return absl::InvalidArgumentError(
        absl::StrCat("inner dimensions differ: A ", ShapeString(a.shape()), " (transA=", trans_a,
                     "), B ", ShapeString(b.shape()), " (transB=", trans_b, ")"));
  }
  Tensor y = Tensor::Zeros({m, n});
  ConstMatrixMap am(a.floats().data(), a.shape()[0], a.shape()[1]);
  ConstMatrixMap bm(b.floats().data(), b.shape()[0], b.shape()[1]);
  MatrixMap ym(y.mutable_floats().data(), m, n);
  // Rows of Y split over the thread budget.
  auto multiply = [&](const auto& lhs, const auto& rhs) {
    ParallelFor(m, 16, [&](int64_t begin, int64_t end) {
      ym.middleRows(begin, end - begin).noalias() =
          alpha * (lhs.middleRows(begin, end - begin) * rhs);
    });
  };
  if (trans_a && trans_b) {
    multiply(am.transpose(), bm.transpose());
  } else if (trans_a) {
    multiply(am.transpose(), bm);
  } else if (trans_b) {
    multiply(am, bm.transpose());
  } else {
    multiply(am, bm);
  }
  if (in.size() > 2 && in[2] != nullptr && beta != 0.0f) {
    RETURN_IF_ERROR(ExpectFloat(node, in, 2));
    RETURN_IF_ERROR(AddGemmBias(*in[2], beta, m, n, y));
  }
  std::vector<Tensor> out;
  out.push_back(std::move(y));
  return out;
}

// numpy matmul: 1-D operands are promoted to matrices and the added
// dimension removed again; leading (batch) dimensions broadcast.
absl::StatusOr<std::vector<Tensor>> RunMatMul(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  RETURN_IF_ERROR(ExpectFloat(node, in, 1));
  const Tensor& a = *in[0];
  const Tensor& b = *in[1];
  if (a.rank() == 0 || b.rank() == 0) {
    return absl::InvalidArgumentError("MatMul operands must have rank >= 1");
  }
  Shape as = a.shape(), bs = b.shape();
  const bool drop_m = as.size() == 1, drop_n = bs.size() == 1;
  if (drop_m) as.insert(as.begin(), 1);
  if (drop_n) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back();
  const int64_t kb = bs[bs.size() - 2], n = bs.back();
  if (k != kb) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inner dimensions differ: ", ShapeString(a.shape()), " x ", ShapeString(b.shape())));
  }
  const std::span<const int64_t> a_batch(as.data(), as.size() - 2);
  const std::span<const int64_t> b_batch(bs.data(), bs.size() - 2);
  ASSIGN_OR_RETURN(Shape batch, BroadcastShapes(a_batch, b_batch));
  std::vector<int64_t> a_strides = BroadcastStrides(a_batch, batch);
  std::vector<int64_t> b_strides = BroadcastStrides(b_batch, batch);
  for (auto& s : a_strides) s *= m * k;
  for (auto& s : b_strides) s *= k * n;

  Shape out_shape = batch;
  if (!drop_m) out_shape.push_back(m);
  if (!drop_n) out_shape.push_back(n);
  RETURN_IF_ERROR(CheckAllocation(ElementType::kFloat32, out_shape));
  Tensor y = Tensor::Zeros(out_shape);
  const float* ap = a.floats().data();
  const float* bp = b.floats().data();
  float* yp = y.mutable_floats().data();
  ForEachBroadcast(batch, a_strides, b_strides, [&](int64_t i, int64_t ao, int64_t bo) {
    MatrixMap ym(yp + i * m * n, m, n);
    ConstMatrixMap am(ap + ao, m, k), bm(bp + bo, k, n);
    ParallelFor(m, 16, [&](int64_t begin, int64_t end) {
      ym.middleRows(begin, end - begin).noalias() = am.middleRows(begin, end - begin) * bm;
    });
  });
  std::vector<Tensor> out;
  out.push_back(std::move(y));
  return out;
}

}  // namespace

void RegisterLinalgKernels(OpRegistry& registry) {
  registry.Register("Gemm", {.min_inputs = 2,
                             .max_inputs = 3,
                             .max_outputs = 1,
                             .validate = ValidateGemm,
                             .run = RunGemm});
  registry.Register(
      "MatMul",
      {.min_inputs = 2, .max_inputs = 2, .max_outputs = 1, .validate = nullptr, .run = RunMatMul});
}

}  // namespace stoa::functions::onnx
