// Builders for small ONNX models in tests, with libonnx's protobuf schema.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::functions::testing {

// dims: -1 becomes a symbolic dimension "N".
inline ::onnx::ValueInfoProto ValueInfo(const std::string& name, std::vector<int64_t> dims,
                                        int32_t elem_type = ::onnx::TensorProto::FLOAT) {
  ::onnx::ValueInfoProto v;
  v.set_name(name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    if (d < 0) {
      shape->add_dim()->set_dim_param("N");
    } else {
      shape->add_dim()->set_dim_value(d);
    }
  }
  return v;
}

inline ::onnx::NodeProto MakeNode(const std::string& op, const std::string& name,
                                  std::vector<std::string> inputs,
                                  std::vector<std::string> outputs) {
  ::onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  for (auto& i : inputs) n.add_input(i);
  for (auto& o : outputs) n.add_output(o);
  return n;
}

inline void SetIntAttr(::onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}

inline void SetFloatAttr(::onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

// An FP32 initializer stored in float_data (the digits model uses raw_data).
inline ::onnx::TensorProto FloatInit(const std::string& name, std::vector<int64_t> dims,
                                     std::vector<float> values) {
  ::onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  for (float v : values) t.add_float_data(v);
  return t;
}

inline ::onnx::TensorProto Int64Init(const std::string& name, std::vector<int64_t> values) {
  ::onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(::onnx::TensorProto::INT64);
  t.add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t.add_int64_data(v);
  return t;
}

inline ::onnx::ModelProto MakeModel(std::vector<::onnx::NodeProto> nodes,
                                    std::vector<::onnx::ValueInfoProto> inputs,
                                    std::vector<::onnx::ValueInfoProto> outputs,
                                    std::vector<::onnx::TensorProto> initializers = {},
                                    int64_t opset = 13) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("test");
  for (auto& n : nodes) *g->add_node() = n;
  for (auto& i : inputs) *g->add_input() = i;
  for (auto& o : outputs) *g->add_output() = o;
  for (auto& t : initializers) *g->add_initializer() = t;
  return m;
}

// Hostile models of issue 10 (docs/limits.md, ONNX memory and graph size).

// n [1] → Cast(INT64) → ConstantOfShape (FP32 zeros) → ReduceMean → y [1]:
// the request's one number decides the size of the zeros tensor.
inline ::onnx::ModelProto CastConstantOfShapeModel() {
  ::onnx::NodeProto cast = MakeNode("Cast", "cast", {"n"}, {"shape"});
  SetIntAttr(cast, "to", ::onnx::TensorProto::INT64);
  ::onnx::NodeProto fill = MakeNode("ConstantOfShape", "fill", {"shape"}, {"zeros"});
  ::onnx::NodeProto mean = MakeNode("ReduceMean", "mean", {"zeros"}, {"y"});
  SetIntAttr(mean, "keepdims", 1);
  return MakeModel({cast, fill, mean}, {ValueInfo("n", {1})}, {ValueInfo("y", {1})});
}

// ConstantOfShape of a constant shape [elements] → ReduceMean → + x: all
// but the Add is folded at load, materializing `elements` floats.
inline ::onnx::ModelProto FoldingBombModel(int64_t elements) {
  ::onnx::NodeProto fill = MakeNode("ConstantOfShape", "fill", {"shape"}, {"zeros"});
  ::onnx::NodeProto mean = MakeNode("ReduceMean", "mean", {"zeros"}, {"m"});
  SetIntAttr(mean, "keepdims", 1);
  ::onnx::NodeProto add = MakeNode("Add", "add", {"x", "m"}, {"y"});
  return MakeModel({fill, mean, add}, {ValueInfo("x", {1})}, {ValueInfo("y", {1})},
                   {Int64Init("shape", {elements})});
}

// x [1] → Relu → Relu → ... (`nodes` of them) → y [1].
inline ::onnx::ModelProto ReluChainModel(int nodes, int64_t opset = 13) {
  ::onnx::ModelProto m = MakeModel({}, {ValueInfo("x", {1})}, {ValueInfo("y", {1})}, {}, opset);
  auto* graph = m.mutable_graph();
  for (int i = 0; i < nodes; ++i) {
    ::onnx::NodeProto* n = graph->add_node();
    n->set_op_type("Relu");
    std::string in = "v", out = "v";  // not "v" + ...: GCC 12's false -Wrestrict
    in += std::to_string(i);
    out += std::to_string(i + 1);
    n->add_input(i == 0 ? std::string("x") : in);
    n->add_output(i == nodes - 1 ? std::string("y") : out);
  }
  return m;
}

// x [elements] + w [elements] (an initializer in raw_data) → y.
inline ::onnx::ModelProto BigInitializerModel(int64_t elements) {
  ::onnx::TensorProto w;
  w.set_name("w");
  w.set_data_type(::onnx::TensorProto::FLOAT);
  w.add_dims(elements);
  w.set_raw_data(std::string(static_cast<size_t>(elements) * sizeof(float), '\0'));
  return MakeModel({MakeNode("Add", "add", {"x", "w"}, {"y"})}, {ValueInfo("x", {elements})},
                   {ValueInfo("y", {elements})}, {w});
}

inline v1::Tensor FloatTensor(const std::string& name, std::vector<int64_t> shape,
                              const std::vector<float>& values) {
  v1::Tensor t;
  t.set_name(name);
  t.set_datatype(v1::FP32);
  for (int64_t d : shape) t.add_shape(d);
  t.set_raw(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

inline std::vector<float> Floats(const v1::Tensor& t) {
  std::vector<float> out(t.raw().size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), t.raw().data(), out.size() * sizeof(float));
  return out;
}

}  // namespace stoa::functions::testing
