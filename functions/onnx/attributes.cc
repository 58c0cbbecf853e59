#include "functions/onnx/attributes.h"

#include "absl/strings/str_cat.h"
#include "functions/onnx/tensor_proto.h"

namespace stoa::functions::onnx {

absl::StatusOr<Attributes> Attributes::FromProto(const ::onnx::NodeProto& node) {
  Attributes attrs;
  for (const ::onnx::AttributeProto& a : node.attribute()) {
    switch (a.type()) {
      case ::onnx::AttributeProto::INT:
        attrs.Set(a.name(), a.i());
        break;
      case ::onnx::AttributeProto::FLOAT:
        attrs.Set(a.name(), a.f());
        break;
      case ::onnx::AttributeProto::STRING:
        attrs.Set(a.name(), a.s());
        break;
      case ::onnx::AttributeProto::INTS:
        attrs.Set(a.name(), std::vector<int64_t>(a.ints().begin(), a.ints().end()));
        break;
      case ::onnx::AttributeProto::FLOATS:
        attrs.Set(a.name(), std::vector<float>(a.floats().begin(), a.floats().end()));
        break;
      case ::onnx::AttributeProto::STRINGS:
        attrs.Set(a.name(), std::vector<std::string>(a.strings().begin(), a.strings().end()));
        break;
      case ::onnx::AttributeProto::TENSOR: {
        absl::StatusOr<Tensor> t = TensorFromProto(a.t());
        if (!t.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("attribute '", a.name(), "': ", std::string(t.status().message())));
        }
        attrs.Set(a.name(), *std::move(t));
        break;
      }
      case ::onnx::AttributeProto::GRAPH:
        break;  // built by BuildGraph into Node::subgraphs
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "attribute '", a.name(), "' has kind ",
            ::onnx::AttributeProto_AttributeType_Name(a.type()), ", which is not supported"));
    }
  }
  return attrs;
}

template <typename T>
absl::StatusOr<const T*> Attributes::Find(std::string_view name, const char* type) const {
  auto it = values_.find(name);
  if (it == values_.end()) return nullptr;
  const T* value = std::get_if<T>(&it->second);
  if (value == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute '", std::string(name), "' is not of type ", type));
  }
  return value;
}

absl::StatusOr<int64_t> Attributes::GetInt(std::string_view name, int64_t default_value) const {
  absl::StatusOr<const int64_t*> v = Find<int64_t>(name, "INT");
  if (!v.ok()) return v.status();
  return *v == nullptr ? default_value : **v;
}

absl::StatusOr<float> Attributes::GetFloat(std::string_view name, float default_value) const {
  absl::StatusOr<const float*> v = Find<float>(name, "FLOAT");
  if (!v.ok()) return v.status();
  return *v == nullptr ? default_value : **v;
}

absl::StatusOr<std::string> Attributes::GetString(std::string_view name,
                                                  std::string default_value) const {
  absl::StatusOr<const std::string*> v = Find<std::string>(name, "STRING");
  if (!v.ok()) return v.status();
  return *v == nullptr ? default_value : **v;
}

absl::StatusOr<std::vector<int64_t>> Attributes::GetInts(std::string_view name) const {
  absl::StatusOr<const std::vector<int64_t>*> v = Find<std::vector<int64_t>>(name, "INTS");
  if (!v.ok()) return v.status();
  return *v == nullptr ? std::vector<int64_t>{} : **v;
}

absl::StatusOr<std::vector<float>> Attributes::GetFloats(std::string_view name) const {
  absl::StatusOr<const std::vector<float>*> v = Find<std::vector<float>>(name, "FLOATS");
  if (!v.ok()) return v.status();
  return *v == nullptr ? std::vector<float>{} : **v;
}

absl::StatusOr<std::vector<std::string>> Attributes::GetStrings(std::string_view name) const {
  absl::StatusOr<const std::vector<std::string>*> v =
      Find<std::vector<std::string>>(name, "STRINGS");
  if (!v.ok()) return v.status();
  return *v == nullptr ? std::vector<std::string>{} : **v;
}

absl::StatusOr<const Tensor*> Attributes::GetTensor(std::string_view name) const {
  absl::StatusOr<const Tensor*> v = Find<Tensor>(name, "TENSOR");
  if (!v.ok()) return v.status();
  if (*v == nullptr) {
    return absl::NotFoundError(absl::StrCat("attribute '", std::string(name), "' is missing"));
  }
  return *v;
}

}  // namespace stoa::functions::onnx
