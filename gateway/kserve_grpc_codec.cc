#include "gateway/kserve_grpc_codec.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace stoa::gateway {
namespace {

using Input = inference::ModelInferRequest::InferInputTensor;

absl::Status Invalid(const std::string& what, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", message));
}

template <typename To, typename From>
absl::Status AppendValues(const google::protobuf::RepeatedField<From>& values,
                          const std::string& what, std::string& raw) {
  raw.resize(values.size() * sizeof(To));
  char* out = raw.data();
  for (int i = 0; i < values.size(); ++i, out += sizeof(To)) {
    const From v = values[i];
    if constexpr (std::is_integral_v<To> && !std::is_same_v<To, From> &&
                  !std::is_same_v<From, bool>) {
      if (!std::in_range<To>(v)) {
        return Invalid(what, absl::StrCat("contents[", i, "] = ", v, " is out of range"));
      }
    }
    const To converted = static_cast<To>(v);
    std::memcpy(out, &converted, sizeof(To));
  }
  return absl::OkStatus();
}

// The typed contents of one input as little-endian bytes.
absl::Status TypedContents(const Input& input, v1::DataType type, const std::string& what,
                           std::string& raw) {
  const inference::InferTensorContents& c = input.contents();
  switch (type) {
    case v1::FP32:
      return AppendValues<float>(c.fp32_contents(), what, raw);
    case v1::FP64:
      return AppendValues<double>(c.fp64_contents(), what, raw);
    case v1::INT64:
      return AppendValues<int64_t>(c.int64_contents(), what, raw);
    case v1::INT32:
      return AppendValues<int32_t>(c.int_contents(), what, raw);
    case v1::INT8:
      return AppendValues<int8_t>(c.int_contents(), what, raw);
    case v1::UINT8:
      return AppendValues<uint8_t>(c.uint_contents(), what, raw);
    case v1::BOOL:
      return AppendValues<uint8_t>(c.bool_contents(), what, raw);
    default:
      return Invalid(what, absl::StrCat(std::string(DataTypeName(type)),
                                        " has no typed contents: send raw_input_contents"));
  }
}

absl::StatusOr<v1::Tensor> DecodeInput(size_t i, Input& input, std::string* raw) {
  std::string what = absl::StrCat("inputs[", i, "]");
  if (input.name().empty()) return Invalid(what, "missing 'name'");
  what = absl::StrCat(what, " '", input.name(), "'");
  v1::Tensor t;
  t.set_name(input.name());
  ASSIGN_OR_RETURN(v1::DataType type, ParseSupportedDataType(input.datatype(), what));
  t.set_datatype(type);
  for (int64_t d : input.shape()) {
    if (d < 0) return Invalid(what, "'shape' must be non-negative integers");
    t.add_shape(d);
  }
  ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(t.shape(), type, what));
  if (raw != nullptr) {
    if (input.has_contents()) {
      return Invalid(what, "has 'contents' although the request has raw_input_contents");
    }
    t.mutable_raw()->swap(*raw);
  } else {
    RETURN_IF_ERROR(TypedContents(input, type, what, *t.mutable_raw()));
  }
  if (t.raw().size() != bytes) {
    return Invalid(
        what, absl::StrCat("has ", t.raw().size(), " bytes of data, shape ", ShapeString(t.shape()),
                           " of ", std::string(DataTypeName(type)), " needs ", bytes));
  }
  return t;
}

}  // namespace

absl::StatusOr<InferRequest> DecodeModelInfer(inference::ModelInferRequest& request) {
  const int raw_count = request.raw_input_contents_size();
  if (raw_count != 0 && raw_count != request.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("raw_input_contents has ", raw_count,
                                                   " entries for ", request.inputs_size(),
                                                   " inputs (one per input, in order)"));
  }
  InferRequest out;
  out.id = request.id();
  std::set<std::string> names;
  for (int i = 0; i < request.inputs_size(); ++i) {
    std::string* raw = raw_count == 0 ? nullptr : request.mutable_raw_input_contents(i);
    ASSIGN_OR_RETURN(v1::Tensor t,
                     DecodeInput(static_cast<size_t>(i), *request.mutable_inputs(i), raw));
    if (!names.insert(t.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs[", i, "] '", t.name(), "': duplicate input name"));
    }
    out.inputs.push_back(std::move(t));
  }
  for (const auto& output : request.outputs()) out.requested_outputs.push_back(output.name());
  return out;
}

absl::Status EncodeModelInfer(std::string_view model_name, uint64_t model_version,
                              const InferRequest& request, v1::InvokeResponse& outputs,
                              inference::ModelInferResponse& response) {
  response.set_model_name(std::string(model_name));
  response.set_model_version(std::to_string(model_version));
  response.set_id(request.id);
  const std::vector<std::string>& wanted = request.requested_outputs;
  for (v1::Tensor& t : *outputs.mutable_outputs()) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), t.name()) == wanted.end()) {
      continue;
    }
    const std::string what = absl::StrCat("output '", t.name(), "'");
    absl::StatusOr<uint64_t> bytes = TensorBytes(t.shape(), t.datatype(), what);
    if (!bytes.ok() || ElementSize(t.datatype()) == 0 || *bytes != t.raw().size()) {
      return absl::InternalError(absl::StrCat(what, " has ", t.raw().size(),
                                              " bytes, which do not match its shape ",
                                              ShapeString(t.shape()), " and datatype"));
    }
    auto* out = response.add_outputs();
    out->set_name(t.name());
    out->set_datatype(std::string(DataTypeName(t.datatype())));
    out->mutable_shape()->CopyFrom(t.shape());
    response.add_raw_output_contents()->swap(*t.mutable_raw());
  }
  return absl::OkStatus();
}

}  // namespace stoa::gateway
