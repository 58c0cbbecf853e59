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
