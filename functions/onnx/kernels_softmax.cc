// Softmax and LogSoftmax. Opset >= 13: along one axis (default -1). Opset < 13: the input
// is flattened to 2-D at `axis` (default 1) and each row is normalised.
#include <cmath>

#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"

namespace stoa::functions::onnx {
namespace {

int64_t DefaultAxis(const Node& node) { return node.opset >= 13 ? -1 : 1; }

absl::Status ValidateSoftmax(const Node& node) {
  return node.attributes.GetInt("axis", DefaultAxis(node)).status();
}

// Normalises `n` values spaced `stride` apart, starting at p.
void SoftmaxStrided(float* p, int64_t n, int64_t stride) {
  float max = p[0];
  for (int64_t j = 1; j < n; ++j) max = std::max(max, p[j * stride]);
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    float& v = p[j * stride];
    v = std::exp(v - max);
    sum += v;
  }
  for (int64_t j = 0; j < n; ++j) p[j * stride] /= sum;
}

template <bool kLog>
absl::StatusOr<std::vector<Tensor>> RunSoftmax(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  const Tensor& x = *in[0];
  ASSIGN_OR_RETURN(int64_t attr_axis, node.attributes.GetInt("axis", DefaultAxis(node)));
  const int64_t rank = x.rank();
  if (rank == 0) return absl::InvalidArgumentError("Softmax input must have rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(attr_axis, rank, "axis"));
  const auto& s = x.shape();
  const int64_t outer = DimProduct(s, 0, axis);
  const int64_t n = node.opset >= 13 ? s[axis] : DimProduct(s, axis, s.size());
  const int64_t inner = node.opset >= 13 ? DimProduct(s, axis + 1, s.size()) : 1;

  Tensor y = x;
  if (n == 0) return std::vector<Tensor>{std::move(y)};
  float* p = y.mutable_floats().data();
  if (inner == 1) {
    MatrixMap rows(p, outer, n);
    for (int64_t r = 0; r < outer; ++r) {
      auto row = rows.row(r).array();
      if (kLog) {
        row -= row.maxCoeff();
        row -= std::log(row.exp().sum());
      } else {
        row = (row - row.maxCoeff()).exp();
        row /= row.sum();
      }
    }
  } else {
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        float* base = p + o * n * inner + i;
        if (kLog) {
          float max = base[0];
          for (int64_t j = 1; j < n; ++j) max = std::max(max, base[j * inner]);
          float sum = 0.0f;
          for (int64_t j = 0; j < n; ++j) sum += std::exp(base[j * inner] - max);
          const float shift = max + std::log(sum);
          for (int64_t j = 0; j < n; ++j) base[j * inner] -= shift;
        } else {
          SoftmaxStrided(base, n, inner);
        }
      }
    }
  }
  std::vector<Tensor> out;
  out.push_back(std::move(y));
  return out;
}

}  // namespace

void RegisterSoftmaxKernels(OpRegistry& registry) {
  registry.Register("Softmax", {.min_inputs = 1,
                                .max_inputs = 1,
                                .max_outputs = 1,
                                .validate = ValidateSoftmax,
                                .run = RunSoftmax<false>});
  registry.Register("LogSoftmax", {.min_inputs = 1,
                                   .max_inputs = 1,
                                   .max_outputs = 1,
                                   .validate = ValidateSoftmax,
                                   .run = RunSoftmax<true>});
}

}  // namespace stoa::functions::onnx
