#include "functions/onnx/model_names.h"

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/utf8.h"

namespace stoa::functions::onnx {
namespace {

absl::Status CheckName(std::string_view name, const std::string& what) {
  if (name.size() > kMaxOnnxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", name.size(),
                                                   " bytes long; the limit is ", kMaxOnnxNameBytes,
                                                   " bytes (ONNX name length limit)"));
  }
  const size_t bad = common::InvalidUtf8Offset(name);
  if (bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not valid UTF-8 (byte ", bad, " is ",
                     absl::StrFormat("0x%02x", static_cast<unsigned char>(name[bad])),
                     "); ONNX names must be UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status CheckValueInfos(
    const google::protobuf::RepeatedPtrField<::onnx::ValueInfoProto>& infos,
    const std::string& what) {
  for (int i = 0; i < infos.size(); ++i) {
    RETURN_IF_ERROR(CheckName(infos[i].name(), absl::StrCat(what, " #", i, " name")));
  }
  return absl::OkStatus();
}

absl::Status CheckNode(const ::onnx::NodeProto& node, int i) {
  const std::string where = absl::StrCat("node #", i);
  RETURN_IF_ERROR(CheckName(node.name(), absl::StrCat(where, " name")));
  RETURN_IF_ERROR(CheckName(node.op_type(), absl::StrCat(where, " op_type")));
  RETURN_IF_ERROR(CheckName(node.domain(), absl::StrCat(where, " domain")));
  for (int j = 0; j < node.input_size(); ++j) {
    RETURN_IF_ERROR(CheckName(node.input(j), absl::StrCat(where, " input #", j)));
  }
  for (int j = 0; j < node.output_size(); ++j) {
    RETURN_IF_ERROR(CheckName(node.output(j), absl::StrCat(where, " output #", j)));
  }
  for (int j = 0; j < node.attribute_size(); ++j) {
    RETURN_IF_ERROR(CheckName(node.attribute(j).name(), absl::StrCat(where, " attribute #", j)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckGraphNames(const ::onnx::GraphProto& g) {
  RETURN_IF_ERROR(CheckValueInfos(g.input(), "graph input"));
  RETURN_IF_ERROR(CheckValueInfos(g.output(), "graph output"));
  RETURN_IF_ERROR(CheckValueInfos(g.value_info(), "graph value_info"));
  for (int i = 0; i < g.initializer_size(); ++i) {
    RETURN_IF_ERROR(CheckName(g.initializer(i).name(), absl::StrCat("initializer #", i, " name")));
  }
  for (int i = 0; i < g.node_size(); ++i) RETURN_IF_ERROR(CheckNode(g.node(i), i));
  return absl::OkStatus();
}

absl::Status CheckModelNames(const ::onnx::ModelProto& model) {
  for (int i = 0; i < model.opset_import_size(); ++i) {
    RETURN_IF_ERROR(
        CheckName(model.opset_import(i).domain(), absl::StrCat("opset_import #", i, " domain")));
  }
  return CheckGraphNames(model.graph());
}

}  // namespace stoa::functions::onnx
