#include "functions/cuda/cuda_plan.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/conv_geometry.h"
#include "functions/onnx/kernel_util.h"

namespace stoa::functions::cuda {
namespace {

using onnx::Graph;
using onnx::Node;
using onnx::Shape;

absl::Status Unsupported(const Node& node, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat(node.Describe(), " is not supported by the CUDA backend: ", why));
}

bool IsBinary(const std::string& op) {
  return op == "Add" || op == "Sub" || op == "Mul" || op == "Div";
}

absl::Status CheckNode(const Graph& graph, const Node& node) {
  const std::string& op = node.op_type;
  static const char* kOps[] = {
      "Gemm", "MatMul",  "Conv",    "MaxPool", "AveragePool", "GlobalAveragePool",
      "Relu", "Sigmoid", "Tanh",    "Add",     "Sub",         "Mul",
      "Div",  "Softmax", "Flatten", "Reshape", "Identity",    "Dropout"};
  if (std::find_if(std::begin(kOps), std::end(kOps), [&](const char* o) { return op == o; }) ==
      std::end(kOps)) {
    return Unsupported(node, "no CUDA kernel for this op");
  }
  for (int v : node.inputs) {
    if (v < 0) continue;
    if (graph.constants[v].has_value() &&
        graph.constants[v]->type() != onnx::ElementType::kFloat32 && op != "Reshape") {
      return Unsupported(node, "a non-FP32 constant input");
    }
  }
  if (op == "MaxPool" && node.outputs.size() > 1 && node.outputs[1] >= 0) {
    return Unsupported(node, "the Indices output");
  }
  if (op == "Reshape") {
    const int shape_value = node.inputs.size() > 1 ? node.inputs[1] : -1;
    if (shape_value < 0 || !graph.constants[shape_value].has_value()) {
      return Unsupported(node, "a shape that is not a constant");
    }
  }
  // Ranks the kernels need, when ONNX shape inference knows them at load.
  const onnx::ValueShape* in0 =
      node.inputs.empty() || node.inputs[0] < 0 ||
              static_cast<size_t>(node.inputs[0]) >= graph.value_shapes.size()
          ? nullptr
          : &graph.value_shapes[node.inputs[0]];
  if (in0 != nullptr && in0->known) {
    const size_t rank = in0->shape.size();
    const bool window =
        op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool";
    if (window && rank != 4) return Unsupported(node, "only 2-D (NCHW) windows");
    if (op == "MatMul" && rank != 2) return Unsupported(node, "only 2-D MatMul");
    if (rank > 6) return Unsupported(node, "rank above 6");
  }
  if (op == "Dropout" && node.outputs.size() > 1 && node.outputs[1] >= 0) {
    return Unsupported(node, "the mask output");
  }
  return absl::OkStatus();
}

absl::StatusOr<Shape> GemmShape(const Node& node, const Shape& a, const Shape& b) {
  ASSIGN_OR_RETURN(int64_t trans_a, node.attributes.GetInt("transA", 0));
  ASSIGN_OR_RETURN(int64_t trans_b, node.attributes.GetInt("transB", 0));
  if (a.size() != 2 || b.size() != 2) return absl::InvalidArgumentError("Gemm needs 2-D inputs");
  const int64_t m = trans_a ? a[1] : a[0];
  const int64_t k = trans_a ? a[0] : a[1];
  const int64_t kb = trans_b ? b[1] : b[0];
  const int64_t n = trans_b ? b[0] : b[1];
  if (k != kb) {
    return absl::InvalidArgumentError(
        absl::StrCat("inner dimensions differ: ", ShapeString(a), " and ", ShapeString(b)));
  }
  return Shape{m, n};
}

absl::StatusOr<Shape> WindowShape(const Node& node, const Shape& x, std::vector<int64_t> kernel) {
  if (x.size() != 4) return absl::UnimplementedError("only 2-D (NCHW) windows are supported");
  ASSIGN_OR_RETURN(int64_t ceil_mode, node.attributes.GetInt("ceil_mode", 0));
  ASSIGN_OR_RETURN(onnx::WindowGeometry g,
                   onnx::ResolveWindow(node, {x[2], x[3]}, std::move(kernel), ceil_mode != 0));
  return Shape{x[0], x[1], g.out[0], g.out[1]};
}

absl::StatusOr<Shape> ReshapeShape(const Shape& x, std::span<const int64_t> target,
                                   bool allow_zero) {
  Shape out(target.begin(), target.end());
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allow_zero) {
      if (i >= x.size()) return absl::InvalidArgumentError("0 in shape past the input's rank");
      out[i] = x[i];
    }
    if (out[i] == -1) {
      if (infer >= 0) return absl::InvalidArgumentError("more than one -1 in the shape");
      infer = static_cast<int>(i);
      continue;
    }
    if (out[i] < 0) return absl::InvalidArgumentError("negative dimension in the shape");
    known *= out[i];
  }
  const int64_t total = onnx::DimProduct(x, 0, x.size());
  if (infer >= 0) {
    if (known == 0 || total % known != 0) {
      return absl::InvalidArgumentError("cannot infer the -1 dimension");
    }
    out[infer] = total / known;
  } else if (known != total) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot reshape ", ShapeString(x), " to ", ShapeString(out)));
  }
  return out;
}

absl::StatusOr<Shape> NodeShape(const Graph& graph, const Node& node,
                                const std::vector<Shape>& shapes) {
  const std::string& op = node.op_type;
  const Shape& x = shapes[node.inputs[0]];
  if (op == "Gemm" || op == "MatMul") {
    if (op == "MatMul" && (x.size() != 2 || shapes[node.inputs[1]].size() != 2)) {
      return absl::UnimplementedError("only 2-D MatMul runs on CUDA");
    }
    return GemmShape(node, x, shapes[node.inputs[1]]);
  }
  if (op == "Conv") {
    const Shape& w = shapes[node.inputs[1]];
    ASSIGN_OR_RETURN(int64_t group, node.attributes.GetInt("group", 1));
    if (w.size() != 4 || x.size() != 4 || group < 1 || x[1] != w[1] * group || w[0] % group != 0) {
      return absl::InvalidArgumentError(absl::StrCat("input ", ShapeString(x), " and weights ",
                                                     ShapeString(w), " do not match (group ", group,
                                                     ")"));
    }
    ASSIGN_OR_RETURN(Shape out, WindowShape(node, x, {w[2], w[3]}));
    out[1] = w[0];
    return out;
  }
  if (op == "MaxPool" || op == "AveragePool") {
    ASSIGN_OR_RETURN(std::vector<int64_t> kernel, node.attributes.GetInts("kernel_shape"));
    return WindowShape(node, x, std::move(kernel));
  }
  if (op == "GlobalAveragePool") {
    if (x.size() != 4) return absl::UnimplementedError("only NCHW inputs");
    return Shape{x[0], x[1], 1, 1};
  }
  if (IsBinary(op)) return onnx::BroadcastShapes(x, shapes[node.inputs[1]]);
  if (op == "Softmax") {
    ASSIGN_OR_RETURN(int64_t axis, node.attributes.GetInt("axis", node.opset >= 13 ? -1 : 1));
    ASSIGN_OR_RETURN(int64_t a, onnx::NormalizeAxis(axis, static_cast<int64_t>(x.size()), "axis"));
    if (a != static_cast<int64_t>(x.size()) - 1) {
      return absl::UnimplementedError("Softmax runs on CUDA over the last axis only");
    }
    return x;
  }
  if (op == "Flatten") {
    ASSIGN_OR_RETURN(int64_t axis, node.attributes.GetInt("axis", 1));
    const int64_t rank = static_cast<int64_t>(x.size());
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) return absl::InvalidArgumentError("axis out of range");
    return Shape{onnx::DimProduct(x, 0, axis), onnx::DimProduct(x, axis, x.size())};
  }
  if (op == "Reshape") {
    const onnx::Tensor& target = *graph.constants[node.inputs[1]];
    if (target.type() != onnx::ElementType::kInt64) {
      return absl::InvalidArgumentError("the shape input must be INT64");
    }
    ASSIGN_OR_RETURN(int64_t allow_zero, node.attributes.GetInt("allowzero", 0));
    return ReshapeShape(x, target.int64s(), allow_zero != 0);
  }
  return x;  // Relu, Sigmoid, Tanh, Identity, Dropout
}

}  // namespace

absl::Status CheckCudaSupport(const Graph& graph) {
  for (const onnx::GraphPort& port : graph.inputs) {
    if (port.type != onnx::ElementType::kFloat32) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", port.name, "' is not FP32: the CUDA backend runs FP32 only"));
    }
  }
  for (const Node& node : graph.nodes) RETURN_IF_ERROR(CheckNode(graph, node));
  return absl::OkStatus();
}

std::vector<int> PlanFusion(const Graph& graph) {
  std::vector<int> consumers(graph.value_names.size(), 0);
  for (const Node& node : graph.nodes) {
    for (int v : node.inputs) {
      if (v >= 0) ++consumers[v];
    }
  }
  std::vector<bool> is_output(graph.value_names.size(), false);
  for (const onnx::GraphPort& port : graph.outputs) is_output[port.value] = true;
  std::vector<int> producer(graph.value_names.size(), -1);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (int v : graph.nodes[i].outputs) {
      if (v >= 0) producer[v] = static_cast<int>(i);
    }
  }
  std::vector<int> fused(graph.nodes.size(), -1);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (node.op_type != "Relu" || node.inputs.empty() || node.inputs[0] < 0) continue;
    const int v = node.inputs[0];
    const int p = producer[v];
    if (p < 0 || consumers[v] != 1 || is_output[v]) continue;
    const std::string& pop = graph.nodes[p].op_type;
    if (pop == "Gemm" || pop == "MatMul" || pop == "Conv" || pop == "Add") fused[i] = p;
  }
  return fused;
}

absl::StatusOr<std::vector<Shape>> InferShapes(const Graph& graph, std::span<const Shape> inputs) {
  if (inputs.size() != graph.inputs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", graph.inputs.size(), " inputs, got ", inputs.size()));
  }
  std::vector<Shape> shapes(graph.value_names.size());
  for (size_t v = 0; v < graph.constants.size(); ++v) {
    if (graph.constants[v].has_value()) shapes[v] = graph.constants[v]->shape();
  }
  for (size_t i = 0; i < inputs.size(); ++i) shapes[graph.inputs[i].value] = inputs[i];
  for (const Node& node : graph.nodes) {
    absl::StatusOr<Shape> out = NodeShape(graph, node, shapes);
    if (!out.ok()) {
      return absl::Status(out.status().code(),
                          absl::StrCat(node.Describe(), ": ", std::string(out.status().message())));
    }
    if (!node.outputs.empty() && node.outputs[0] >= 0) shapes[node.outputs[0]] = *std::move(out);
  }
  return shapes;
}

MemoryPlan PlanMemory(std::span<const BufferRequest> requests, int64_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first: big buffers claim low offsets, small ones fill the gaps.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  auto round_up = [alignment](int64_t n) { return (n + alignment - 1) & ~(alignment - 1); };
  std::vector<size_t> placed;
  for (size_t r : order) {
    const BufferRequest& req = requests[r];
    const int64_t size = round_up(std::max<int64_t>(req.bytes, 1));
    // Busy address ranges of placed buffers that are alive at the same time.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t p : placed) {
      const BufferRequest& other = requests[p];
      if (other.last < req.first || req.last < other.first) continue;
      busy.emplace_back(plan.offsets[p],
                        plan.offsets[p] + round_up(std::max<int64_t>(other.bytes, 1)));
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + size <= begin) break;
      offset = std::max(offset, end);
    }
    plan.offsets[r] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + size);
    placed.push_back(r);
  }
  return plan;
}

}  // namespace stoa::functions::cuda
