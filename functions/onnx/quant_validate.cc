#include "functions/onnx/quant_validate.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace stoa::functions::onnx {
namespace {

// Which dimension of a data operand a parameter has one value per.
enum class Along { kTensor, kRows, kColumns, kMaps, kAxis };

struct ParamRule {
  int index;    // the parameter's input index
  bool scale;   // FP32 scale; otherwise a zero point
  int data;     // the operand it quantizes (its type for a zero point); -1: none
  Along along;  // kTensor: exactly one value
};

struct OpRules {
  const char* op;
  std::vector<int> quantized;  // inputs that must be UINT8/INT8
  std::vector<ParamRule> params;
};

const std::vector<OpRules>& Rules() {
  static const auto* rules = new std::vector<OpRules>{
      {"QuantizeLinear", {}, {{1, true, 0, Along::kAxis}, {2, false, -1, Along::kAxis}}},
      {"DequantizeLinear", {}, {{1, true, 0, Along::kAxis}, {2, false, 0, Along::kAxis}}},
      {"MatMulInteger", {0, 1}, {{2, false, 0, Along::kRows}, {3, false, 1, Along::kColumns}}},
      {"QLinearMatMul",
       {0, 3, 7},
       {{1, true, 0, Along::kTensor},
        {2, false, 0, Along::kTensor},
        {4, true, 3, Along::kColumns},
        {5, false, 3, Along::kColumns},
        {6, true, 3, Along::kColumns},
        {7, false, -1, Along::kColumns}}},
      {"ConvInteger", {0, 1}, {{2, false, 0, Along::kTensor}, {3, false, 1, Along::kMaps}}},
      {"QLinearConv",
       {0, 3, 7},
       {{1, true, 0, Along::kTensor},
        {2, false, 0, Along::kTensor},
        {4, true, 3, Along::kMaps},
        {5, false, 3, Along::kMaps},
        {6, true, -1, Along::kTensor},
        {7, false, -1, Along::kTensor}}},
  };
  return *rules;
}

// What is known of one input at load.
struct Known {
  bool present = false;
  std::optional<ElementType> type;
  std::optional<Shape> shape;  // -1 for an unknown dimension
  const Tensor* constant = nullptr;
  std::string name;
};

Known KnownInput(const Graph& graph, const Node& node, int i) {
  Known k;
  if (i >= static_cast<int>(node.inputs.size()) || node.inputs[i] < 0) return k;
  const int v = node.inputs[i];
  k.present = true;
  k.name = node.input_names[i];
  if (graph.constants[v].has_value()) {
    k.constant = &*graph.constants[v];
    k.type = k.constant->type();
    k.shape = k.constant->shape();
  } else if (v < static_cast<int>(graph.value_shapes.size()) && graph.value_shapes[v].known) {
    k.type = graph.value_shapes[v].type;
    k.shape = graph.value_shapes[v].shape;
  }
  return k;
}

bool IsQuantized(ElementType t) { return t == ElementType::kUInt8 || t == ElementType::kInt8; }

// The element count of a fully known shape, or -1.
int64_t KnownCount(const std::optional<Shape>& shape) {
  if (!shape.has_value()) return -1;
  int64_t n = 1;
  for (int64_t d : *shape) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

// The number of channels `along` selects on the data operand, or -1.
int64_t Channels(const Node& node, const Known& data, Along along) {
  if (along == Along::kTensor) return 1;
  if (!data.shape.has_value()) return -1;
  const Shape& s = *data.shape;
  const int64_t rank = static_cast<int64_t>(s.size());
  int64_t dim = -1;
  if (along == Along::kRows) dim = rank >= 2 ? rank - 2 : -1;
  if (along == Along::kColumns) dim = rank - 1;
  if (along == Along::kMaps) dim = 0;
  if (along == Along::kAxis) {
    absl::StatusOr<int64_t> axis = node.attributes.GetInt("axis", 1);
    if (!axis.ok() || *axis < -rank || *axis >= rank) return -1;
    dim = *axis < 0 ? *axis + rank : *axis;
  }
  if (along == Along::kRows && rank == 1) return 1;
  return dim >= 0 && dim < rank ? s[dim] : -1;
}

absl::Status CheckParam(const Node& node, const Known& p, const Known& data,
                        const ParamRule& rule) {
  const std::string what = absl::StrCat(rule.scale ? "scale '" : "zero point '", p.name, "'");
  if (p.type.has_value()) {
    if (rule.scale && *p.type != ElementType::kFloat32) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is ", ElementTypeName(*p.type), "; scales must be FP32"));
    }
    if (!rule.scale && rule.data >= 0 && data.type.has_value() && *p.type != *data.type) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is ", ElementTypeName(*p.type),
                                                     "; its data '", data.name, "' is ",
                                                     ElementTypeName(*data.type)));
    }
    if (!rule.scale && !IsQuantized(*p.type) &&
        !(node.op_type == "DequantizeLinear" && *p.type == ElementType::kInt32)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is ", ElementTypeName(*p.type), "; expected UINT8 or INT8"));
    }
  }
  const int64_t count = KnownCount(p.shape);
  const int64_t channels = Channels(node, data, rule.along);
  if (count >= 0 && count != 1 && (rule.along == Along::kTensor || channels >= 0) &&
      count != channels) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", count, " values; expected 1",
                     rule.along == Along::kTensor ? "" : absl::StrCat(" or ", channels),
                     rule.along == Along::kTensor ? " (per-tensor only)" : " (one per channel)"));
  }
  if (rule.scale && p.constant != nullptr && p.constant->type() == ElementType::kFloat32) {
    for (float v : p.constant->floats()) {
      if (!std::isfinite(v) || v <= 0.0f) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " holds ", v, "; scales must be finite and > 0"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBias(const Graph& graph, const Node& node) {
  const Known b = KnownInput(graph, node, 8);
  if (!b.present) return absl::OkStatus();
  if (b.type.has_value() && *b.type != ElementType::kInt32) {
    return absl::InvalidArgumentError(
        absl::StrCat("bias '", b.name, "' is ", ElementTypeName(*b.type), "; expected INT32"));
  }
  const int64_t maps = Channels(node, KnownInput(graph, node, 3), Along::kMaps);
  const int64_t count = KnownCount(b.shape);
  if (count >= 0 && maps >= 0 && count != maps) {
    return absl::InvalidArgumentError(
        absl::StrCat("bias '", b.name, "' has ", count, " values; w has ", maps, " output maps"));
  }
  return absl::OkStatus();
}

absl::Status CheckNode(const Graph& graph, const Node& node, const OpRules& rules) {
  for (int i : rules.quantized) {
    const Known k = KnownInput(graph, node, i);
    if (k.type.has_value() && !IsQuantized(*k.type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", k.name, "' is ", ElementTypeName(*k.type), "; expected UINT8 or INT8"));
    }
  }
  std::optional<Known> scale;  // the last scale, paired with the zero point after it
  for (const ParamRule& rule : rules.params) {
    const Known p = KnownInput(graph, node, rule.index);
    if (!p.present) continue;
    const Known data = rule.data >= 0 ? KnownInput(graph, node, rule.data) : Known{};
    RETURN_IF_ERROR(CheckParam(node, p, data, rule));
    if (rule.scale) {
      scale = p;
    } else if (scale.has_value() && KnownCount(scale->shape) >= 0 && KnownCount(p.shape) >= 0 &&
               KnownCount(scale->shape) != KnownCount(p.shape)) {
      return absl::InvalidArgumentError(
          absl::StrCat("zero point '", p.name, "' has ", KnownCount(p.shape),
                       " values, its scale '", scale->name, "' has ", KnownCount(scale->shape)));
    }
  }
  if (node.op_type == "QLinearConv") RETURN_IF_ERROR(CheckBias(graph, node));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckQuantizedNodes(const Graph& graph) {
  for (const Node& node : graph.nodes) {
    for (const OpRules& rules : Rules()) {
      if (node.op_type != rules.op) continue;
      absl::Status status = CheckNode(graph, node, rules);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(node.Describe(), ": ", std::string(status.message())));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace stoa::functions::onnx
