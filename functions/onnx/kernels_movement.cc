// Ops that move elements of any type: Transpose, Concat, Split, Slice,
// Gather, Pad (constant, reflect, edge).
#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx {
namespace {

absl::Status ValidatePerm(const Node& node) { return node.attributes.GetInts("perm").status(); }

absl::StatusOr<std::vector<Tensor>> RunTranspose(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& x = *in[0];
  const int64_t rank = x.rank();
  ASSIGN_OR_RETURN(std::vector<int64_t> perm, node.attributes.GetInts("perm"));
  if (perm.empty()) {
    for (int64_t d = rank; d-- > 0;) perm.push_back(d);
  }
  if (static_cast<int64_t>(perm.size()) != rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("perm has ", perm.size(), " entries for rank ", rank));
  }
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    ASSIGN_OR_RETURN(p, NormalizeAxis(p, rank, "perm"));
    if (seen[p]) return absl::InvalidArgumentError("perm is not a permutation");
    seen[p] = true;
  }
  Shape out_shape(rank);
  const std::vector<int64_t> xs = Strides(x.shape());
  std::vector<int64_t> src_strides(rank);
  for (int64_t d = 0; d < rank; ++d) {
    out_shape[d] = x.shape()[perm[d]];
    src_strides[d] = xs[perm[d]];
  }
  Tensor y = Tensor::Empty(x.type(), out_shape);
  VisitBits(x.type(), [&](auto zero) {
    using T = decltype(zero);
    const T* src = reinterpret_cast<const T*>(x.raw());
    T* dst = reinterpret_cast<T*>(y.mutable_raw());
    std::vector<int64_t> zeros(rank, 0);
    ForEachBroadcast(out_shape, zeros, src_strides,
                     [&](int64_t i, int64_t, int64_t so) { dst[i] = src[so]; });
    return 0;
  });
  return One(std::move(y));
}

absl::Status ValidateAxis(const Node& node) { return node.attributes.GetInt("axis", 0).status(); }

absl::StatusOr<std::vector<Tensor>> RunConcat(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& first = *in[0];
  ASSIGN_OR_RETURN(int64_t attr_axis, node.attributes.GetInt("axis", 0));
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(attr_axis, first.rank(), "axis"));
  Shape shape = first.shape();
  shape[axis] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    RETURN_IF_ERROR(ExpectPresent(in, static_cast<int>(i)));
    const Tensor& t = *in[i];
    bool ok = t.type() == first.type() && t.rank() == first.rank();
    for (int64_t d = 0; ok && d < t.rank(); ++d) ok = d == axis || t.shape()[d] == first.shape()[d];
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("input #", i, " ", ElementTypeName(t.type()), ShapeString(t.shape()),
                       " does not concatenate with ", ElementTypeName(first.type()),
                       ShapeString(first.shape()), " on axis ", axis));
    }
    shape[axis] += t.shape()[axis];
  }
  RETURN_IF_ERROR(CheckAllocation(first.type(), shape));
  Tensor y = Tensor::Empty(first.type(), shape);
  const size_t es = ElementSize(first.type());
  const int64_t outer = DimProduct(shape, 0, axis);
  const int64_t inner = DimProduct(shape, axis + 1, shape.size());
  int64_t offset = 0;
  for (const Tensor* t : in) {
    const int64_t block = t->shape()[axis] * inner;
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(y.mutable_raw() + (o * shape[axis] * inner + offset) * es,
                  t->raw() + o * block * es, block * es);
    }
    offset += block;
  }
  return One(std::move(y));
}

// Split: sizes from the 'split' attribute (before opset 13) or input #1,
// otherwise equal parts, one per output.
absl::StatusOr<std::vector<Tensor>> RunSplit(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& x = *in[0];
  ASSIGN_OR_RETURN(int64_t attr_axis, node.attributes.GetInt("axis", 0));
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(attr_axis, x.rank(), "axis"));
  std::vector<int64_t> sizes;
  if (node.opset < 13) {
    ASSIGN_OR_RETURN(sizes, node.attributes.GetInts("split"));
  } else if (HasInput(in, 1)) {
    ASSIGN_OR_RETURN(sizes, ReadInts(node, in, 1));
  }
  const int64_t n_out = static_cast<int64_t>(node.outputs.size());
  const int64_t dim = x.shape()[axis];
  if (sizes.empty()) {
    if (dim % n_out != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("axis ", axis, " of size ", dim, " does not split into ", n_out, " parts"));
    }
    sizes.assign(n_out, dim / n_out);
  }
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) return absl::InvalidArgumentError(absl::StrCat("split size ", s, " is negative"));
    total += s;
  }
  if (static_cast<int64_t>(sizes.size()) != n_out || total != dim) {
    return absl::InvalidArgumentError(absl::StrCat("split sizes ", ShapeString(sizes), " for ",
                                                   n_out, " outputs do not sum to ", dim));
  }
  const size_t es = ElementSize(x.type());
  const int64_t outer = DimProduct(x.shape(), 0, axis);
  const int64_t inner = DimProduct(x.shape(), axis + 1, x.shape().size());
  std::vector<Tensor> out;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    Shape shape = x.shape();
    shape[axis] = s;
    Tensor y = Tensor::Empty(x.type(), shape);
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(y.mutable_raw() + o * s * inner * es, x.raw() + (o * dim * inner + offset) * es,
                  s * inner * es);
    }
    offset += s * inner;
    out.push_back(std::move(y));
  }
  return out;
}

// Slice: starts/ends/axes attributes before opset 10, then inputs (with steps).
absl::StatusOr<std::vector<Tensor>> RunSlice(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& x = *in[0];
  const int64_t rank = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (node.opset < 10) {
    ASSIGN_OR_RETURN(starts, node.attributes.GetInts("starts"));
    ASSIGN_OR_RETURN(ends, node.attributes.GetInts("ends"));
    ASSIGN_OR_RETURN(axes, node.attributes.GetInts("axes"));
  } else {
    ASSIGN_OR_RETURN(starts, ReadInts(node, in, 1));
    ASSIGN_OR_RETURN(ends, ReadInts(node, in, 2));
    if (HasInput(in, 3)) {
      ASSIGN_OR_RETURN(axes, ReadInts(node, in, 3));
    }
    if (HasInput(in, 4)) {
      ASSIGN_OR_RETURN(steps, ReadInts(node, in, 4));
    }
  }
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return absl::InvalidArgumentError("starts, ends, axes and steps differ in length");
  }
  std::vector<int64_t> begin(rank, 0), step(rank, 1);
  Shape shape = x.shape();
  for (size_t i = 0; i < starts.size(); ++i) {
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axes[i], rank, "axes"));
    const int64_t dim = x.shape()[axis];
    const int64_t st = steps[i];
    if (st == 0) return absl::InvalidArgumentError("a step is 0");
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (ends[i] == std::numeric_limits<int64_t>::min()) e = -1;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      shape[axis] = e > s ? (e - s + st - 1) / st : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      shape[axis] = s > e ? (s - e + (-st) - 1) / (-st) : 0;
    }
    begin[axis] = s;
    step[axis] = st;
  }
  Tensor y = Tensor::Empty(x.type(), shape);
  const std::vector<int64_t> xs = Strides(x.shape());
  int64_t base = 0;
  std::vector<int64_t> src_strides(rank);
  for (int64_t d = 0; d < rank; ++d) {
    base += begin[d] * xs[d];
    src_strides[d] = step[d] * xs[d];
  }
  VisitBits(x.type(), [&](auto zero) {
    using T = decltype(zero);
    const T* src = reinterpret_cast<const T*>(x.raw()) + base;
    T* dst = reinterpret_cast<T*>(y.mutable_raw());
    std::vector<int64_t> zeros(rank, 0);
    ForEachBroadcast(shape, zeros, src_strides,
                     [&](int64_t i, int64_t, int64_t so) { dst[i] = src[so]; });
    return 0;
  });
  return One(std::move(y));
}

absl::StatusOr<std::vector<Tensor>> RunGather(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& x = *in[0];
  ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadInts(node, in, 1));
  ASSIGN_OR_RETURN(int64_t attr_axis, node.attributes.GetInt("axis", 0));
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(attr_axis, x.rank(), "axis"));
  const int64_t dim = x.shape()[axis];
  for (int64_t& i : indices) {
    if (i < -dim || i >= dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("index ", i, " is out of range for axis ", axis, " of size ", dim));
    }
    if (i < 0) i += dim;
  }
  Shape shape(x.shape().begin(), x.shape().begin() + axis);
  shape.insert(shape.end(), in[1]->shape().begin(), in[1]->shape().end());
  shape.insert(shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  RETURN_IF_ERROR(CheckAllocation(x.type(), shape));
  Tensor y = Tensor::Empty(x.type(), shape);
  const size_t es = ElementSize(x.type());
  const int64_t outer = DimProduct(x.shape(), 0, axis);
  const int64_t inner = DimProduct(x.shape(), axis + 1, x.shape().size());
  const int64_t n = static_cast<int64_t>(indices.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < n; ++j) {
      std::memcpy(y.mutable_raw() + (o * n + j) * inner * es,
                  x.raw() + (o * dim + indices[j]) * inner * es, inner * es);
    }
  }
  return One(std::move(y));
}

absl::Status ValidatePad(const Node& node) {
  ASSIGN_OR_RETURN(std::string mode, node.attributes.GetString("mode", "constant"));
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'mode' = '", mode, "' is not supported (constant, reflect, edge)"));
  }
  return absl::OkStatus();
}

// Pad: pads/value attributes before opset 11, then inputs pads and
// constant_value (and axes, opset 18).
absl::StatusOr<std::vector<Tensor>> RunPad(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& x = *in[0];
  const int64_t rank = x.rank();
  ASSIGN_OR_RETURN(std::string mode, node.attributes.GetString("mode", "constant"));
  std::vector<int64_t> pads;
  Tensor fill = Tensor::Empty(x.type(), {});
  if (node.opset < 11) {
    ASSIGN_OR_RETURN(pads, node.attributes.GetInts(node.opset < 2 ? "paddings" : "pads"));
    ASSIGN_OR_RETURN(float value, node.attributes.GetFloat("value", 0.0f));
    if (x.type() != ElementType::kFloat32) return absl::InvalidArgumentError("X must be FP32");
    fill = Tensor::Float({}, {value});
  } else {
    ASSIGN_OR_RETURN(pads, ReadInts(node, in, 1));
    if (HasInput(in, 2)) {
      if (in[2]->type() != x.type() || in[2]->size() != 1) {
        return absl::InvalidArgumentError("constant_value must be a scalar of X's type");
      }
      fill = in[2]->Reshaped({});
    }
  }
  std::vector<int64_t> axes;
  if (HasInput(in, 3)) {
    ASSIGN_OR_RETURN(axes, ReadInts(node, in, 3));
  } else {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  const int64_t na = static_cast<int64_t>(axes.size());
  if (static_cast<int64_t>(pads.size()) != 2 * na) {
    return absl::InvalidArgumentError(
        absl::StrCat("pads has ", pads.size(), " entries, expected ", 2 * na));
  }
  std::vector<int64_t> before(rank, 0), after(rank, 0);
  for (int64_t i = 0; i < na; ++i) {
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axes[i], rank, "axes"));
    before[axis] = pads[i];
    after[axis] = pads[i + na];
  }
  Shape shape(rank);
  for (int64_t d = 0; d < rank; ++d) {
    shape[d] = x.shape()[d] + before[d] + after[d];
    if (shape[d] < 0) return absl::InvalidArgumentError("pads remove more than the dimension");
    if (mode == "reflect" && (before[d] >= x.shape()[d] || after[d] >= x.shape()[d]) &&
        (before[d] > 0 || after[d] > 0)) {
      return absl::InvalidArgumentError("reflect pads must be smaller than the dimension");
    }
    if (mode == "edge" && x.shape()[d] == 0 && shape[d] > 0) {
      return absl::InvalidArgumentError("edge padding of an empty dimension");
    }
  }
  RETURN_IF_ERROR(CheckAllocation(x.type(), shape));
  Tensor y = Tensor::Empty(x.type(), shape);
  const std::vector<int64_t> xs = Strides(x.shape());
  VisitBits(x.type(), [&](auto zero) {
    using T = decltype(zero);
    const T* src = reinterpret_cast<const T*>(x.raw());
    const T value = *reinterpret_cast<const T*>(fill.raw());
    T* dst = reinterpret_cast<T*>(y.mutable_raw());
    std::vector<int64_t> idx(rank, 0);
    for (int64_t i = 0; i < y.size(); ++i) {
      int64_t off = 0;
      bool outside = false;
      for (int64_t d = 0; d < rank; ++d) {
        int64_t c = idx[d] - before[d];
        const int64_t n = x.shape()[d];
        if (c < 0 || c >= n) {
          if (mode == "constant") {
            outside = true;
            break;
          }
          if (mode == "edge") {
            c = std::clamp<int64_t>(c, 0, n - 1);
          } else {  // reflect without repeating the edge
            while (c < 0 || c >= n) c = c < 0 ? -c : 2 * (n - 1) - c;
          }
        }
        off += c * xs[d];
      }
      dst[i] = outside ? value : src[off];
      for (int64_t d = rank; d-- > 0;) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    return 0;
  });
  return One(std::move(y));
}

}  // namespace

void RegisterMovementKernels(OpRegistry& registry) {
  registry.Register("Transpose", {.min_inputs = 1,
                                  .max_inputs = 1,
                                  .max_outputs = 1,
                                  .validate = ValidatePerm,
                                  .run = RunTranspose});
  registry.Register("Concat", {.min_inputs = 1,
                               .max_inputs = 1 << 16,
                               .max_outputs = 1,
                               .validate = ValidateAxis,
                               .run = RunConcat});
  registry.Register("Split", {.min_inputs = 1,
                              .max_inputs = 2,
                              .max_outputs = 1 << 16,
                              .validate = ValidateAxis,
                              .run = RunSplit});
  registry.Register(
      "Slice",
      {.min_inputs = 1, .max_inputs = 5, .max_outputs = 1, .validate = nullptr, .run = RunSlice});
  registry.Register("Gather", {.min_inputs = 2,
                               .max_inputs = 2,
                               .max_outputs = 1,
                               .validate = ValidateAxis,
                               .run = RunGather});
  registry.Register(
      "Pad",
      {.min_inputs = 1, .max_inputs = 4, .max_outputs = 1, .validate = ValidatePad, .run = RunPad});
}

}  // namespace stoa::functions::onnx
