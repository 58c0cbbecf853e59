#include "gateway/kserve_codec.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/half.h"
#include "common/request_limits.h"
#include "common/status_macros.h"
#include "functions/signature.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace stoa::gateway {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr int kMaxNesting = 32;

absl::Status Invalid(const std::string& what, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", message));
}

// Bodies up to this size that simdjson refuses are parsed once more by
// nlohmann, which says where the error is; larger ones are not (a second
// parse of a large body cost a gigabyte: issue 10), and the message has
// simdjson's reason only.
constexpr size_t kLocateErrorBytes = 64 * 1024;

absl::Status MalformedJson(std::string_view body, simdjson::error_code error) {
  if (body.size() <= kLocateErrorBytes) {
    try {
      nlohmann::json parsed = nlohmann::json::parse(body.begin(), body.end());
      (void)parsed;
    } catch (const nlohmann::json::parse_error& e) {
      std::string detail = e.what();
      size_t column = detail.find("column ");
      size_t colon = column == std::string::npos ? std::string::npos : detail.find(": ", column);
      if (colon != std::string::npos) detail = detail.substr(colon + 2);
      return absl::InvalidArgumentError(
          absl::StrCat("malformed JSON at byte ", e.byte, ": ", detail));
    } catch (const std::exception&) {
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("malformed JSON: ", simdjson::error_message(error)));
}

const char* JsonTypeName(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

template <typename T>
void AppendLe(std::string& raw, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  raw.append(bytes, sizeof(T));
}

// Appends one JSON scalar as an element of `type`; "" on success, else why not.
std::string AppendElement(const element& e, v1::DataType type, std::string& raw) {
  element_type t = e.type();
  switch (type) {
    case v1::FP16:
    case v1::FP32:
    case v1::FP64: {
      double v;
      if (t == element_type::DOUBLE) {
        v = e.get_double().value_unsafe();
      } else if (t == element_type::INT64) {
        v = static_cast<double>(e.get_int64().value_unsafe());
      } else if (t == element_type::UINT64) {
        v = static_cast<double>(e.get_uint64().value_unsafe());
      } else {
        return absl::StrCat("is ", JsonTypeName(t), ", expected a number");
      }
      if (type == v1::FP64) {
        AppendLe(raw, v);
      } else if (type == v1::FP16) {
        if (std::fabs(v) > 65504.0) return absl::StrCat("value ", v, " is out of range for FP16");
        AppendLe(raw, common::FloatToHalf(static_cast<float>(v)));
      } else {
        if (std::fabs(v) > std::numeric_limits<float>::max()) {
          return absl::StrCat("value ", v, " is out of range for FP32");
        }
        AppendLe(raw, static_cast<float>(v));
      }
      return "";
    }
    case v1::INT32:
    case v1::INT64:
    case v1::INT8:
    case v1::UINT8: {
      int64_t v;
      if (t == element_type::INT64) {
        v = e.get_int64().value_unsafe();
      } else if (t == element_type::UINT64) {
        return absl::StrCat("value ", e.get_uint64().value_unsafe(), " is out of range for ",
                            std::string(DataTypeName(type)));
      } else {
        return absl::StrCat("is ", JsonTypeName(t), ", expected an integer");
      }
      int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
      if (type == v1::INT32) lo = INT32_MIN, hi = INT32_MAX;
      if (type == v1::INT8) lo = INT8_MIN, hi = INT8_MAX;
      if (type == v1::UINT8) lo = 0, hi = UINT8_MAX;
      if (v < lo || v > hi) {
        return absl::StrCat("value ", v, " is out of range for ", std::string(DataTypeName(type)));
      }
      if (type == v1::INT32) AppendLe(raw, static_cast<int32_t>(v));
      if (type == v1::INT64) AppendLe(raw, v);
      if (type == v1::INT8) AppendLe(raw, static_cast<int8_t>(v));
      if (type == v1::UINT8) AppendLe(raw, static_cast<uint8_t>(v));
      return "";
    }
    case v1::BOOL:
      if (t != element_type::BOOL)
        return absl::StrCat("is ", JsonTypeName(t), ", expected true or false");
      raw.push_back(e.get_bool().value_unsafe() ? 1 : 0);
      return "";
    default:
      return "has an unsupported datatype";
  }
}

// Appends the elements of (possibly nested) `data` in row-major order.
absl::Status Flatten(const element& data, v1::DataType type, const std::string& what, int depth,
                     uint64_t& count, std::string& raw) {
  if (data.type() != element_type::ARRAY) {
    std::string why = AppendElement(data, type, raw);
    if (!why.empty()) return Invalid(what, absl::StrCat("data[", count, "] ", why));
    ++count;
    return absl::OkStatus();
  }
  if (depth > kMaxNesting) return Invalid(what, "data is nested too deeply");
  simdjson::dom::array children;
  if (data.get_array().get(children) != simdjson::SUCCESS) return Invalid(what, "bad data");
  for (element child : children) {
    RETURN_IF_ERROR(Flatten(child, type, what, depth + 1, count, raw));
  }
  return absl::OkStatus();
}

// The fields of one input as parsed so far.
struct InputFields {
  v1::Tensor tensor;
  bool has_shape = false;
  std::optional<std::string_view> datatype;
  bool has_data = false;
  element data;
  std::optional<uint64_t> binary_data_size;
};

// The binary section of a request and how much of it the inputs so far
// took; `present` is false for a plain JSON request.
struct BinarySection {
  bool present = false;
  std::string_view bytes;
  size_t used = 0;
};

// Reads a boolean parameter; absent leaves `out` unchanged.
absl::Status BoolParameter(const element& parameters, const char* key, const std::string& what,
                           bool& out) {
  element value;
  if (parameters[key].get(value) != simdjson::SUCCESS) return absl::OkStatus();
  if (value.get_bool().get(out) != simdjson::SUCCESS) {
    return Invalid(what, absl::StrCat("parameter '", key, "' must be true or false"));
  }
  return absl::OkStatus();
}

absl::Status ParseInputParameters(const element& value, const std::string& what, InputFields& in) {
  if (value.type() != element_type::OBJECT) return Invalid(what, "'parameters' must be an object");
  element size;
  if (value["binary_data_size"].get(size) != simdjson::SUCCESS) return absl::OkStatus();
  uint64_t n;
  if (size.get_uint64().get(n) != simdjson::SUCCESS) {
    return Invalid(what, "parameter 'binary_data_size' must be a non-negative integer");
  }
  in.binary_data_size = n;
  return absl::OkStatus();
}

absl::Status ParseShape(const element& value, const std::string& what, v1::Tensor& tensor) {
  simdjson::dom::array dims;
  if (value.get_array().get(dims) != simdjson::SUCCESS) {
    return Invalid(what, "'shape' must be an array of non-negative integers");
  }
  for (element d : dims) {
    int64_t v;
    if (d.get_int64().get(v) != simdjson::SUCCESS || v < 0) {
      return Invalid(what, "'shape' must be an array of non-negative integers");
    }
    tensor.add_shape(v);
  }
  return absl::OkStatus();
}

absl::Status ParseInputField(std::string_view key, const element& value, const std::string& what,
                             InputFields& in) {
  if (key == "name") {
    std::string_view name;
    if (value.get_string().get(name) != simdjson::SUCCESS || name.empty()) {
      return Invalid(what, "'name' must be a non-empty string");
    }
    in.tensor.set_name(std::string(name));
  } else if (key == "shape") {
    RETURN_IF_ERROR(ParseShape(value, what, in.tensor));
    in.has_shape = true;
  } else if (key == "datatype") {
    std::string_view name;
    if (value.get_string().get(name) != simdjson::SUCCESS) {
      return Invalid(what, "'datatype' must be a string");
    }
    in.datatype = name;
  } else if (key == "data") {
    in.data = value;
    in.has_data = true;
  } else if (key == "parameters") {
    RETURN_IF_ERROR(ParseInputParameters(value, what, in));
  } else {
    return Invalid(what, absl::StrCat("unknown field '", std::string(key),
                                      "' (expected name, shape, datatype, data, parameters)"));
  }
  return absl::OkStatus();
}

// Flattens `data` into the tensor's raw bytes, checking the element count
// against its shape.
absl::Status FillData(const element& data, const std::string& what, v1::Tensor& tensor) {
  ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(tensor.shape(), tensor.datatype(), what));
  const uint64_t expected = bytes / ElementSize(tensor.datatype());
  std::string raw;
  raw.reserve(bytes);
  uint64_t count = 0;
  RETURN_IF_ERROR(Flatten(data, tensor.datatype(), what, 0, count, raw));
  if (count != expected) {
    return Invalid(what, absl::StrCat("data has ", count, " elements, shape ",
                                      ShapeString(tensor.shape()), " needs ", expected));
  }
  tensor.set_raw(std::move(raw));
  return absl::OkStatus();
}

// Takes the input's bytes from the binary section: the one copy from the
// wire into the tensor.
absl::Status TakeBinary(uint64_t size, const std::string& what, BinarySection& binary,
                        v1::Tensor& tensor) {
  if (!binary.present) {
    return Invalid(what,
                   "'binary_data_size' needs binary data after the JSON header "
                   "(the Inference-Header-Content-Length request header)");
  }
  ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(tensor.shape(), tensor.datatype(), what));
  if (size != bytes) {
    return Invalid(
        what,
        absl::StrCat("binary_data_size is ", size, " bytes, shape ", ShapeString(tensor.shape()),
                     " of ", std::string(DataTypeName(tensor.datatype())), " needs ", bytes));
  }
  const size_t left = binary.bytes.size() - binary.used;
  if (size > left) {
    return Invalid(what, absl::StrCat("binary_data_size is ", size, " bytes, but only ", left,
                                      " bytes of binary data are left"));
  }
  // assign, not set_raw(p, n): protobuf 3.21's set_raw(p, n) builds a
  // temporary std::string and copies it again.
  tensor.mutable_raw()->assign(binary.bytes.data() + binary.used, static_cast<size_t>(size));
  binary.used += static_cast<size_t>(size);
  return absl::OkStatus();
}

absl::StatusOr<v1::Tensor> ParseInput(size_t index, const element& input, BinarySection& binary) {
  std::string what = absl::StrCat("inputs[", index, "]");
  if (input.type() != element_type::OBJECT) {
    return Invalid(what, absl::StrCat("is ", JsonTypeName(input.type()), ", expected an object"));
  }
  simdjson::dom::object fields;
  if (input.get_object().get(fields) != simdjson::SUCCESS) return Invalid(what, "not an object");
  InputFields in;
  for (auto field : fields) RETURN_IF_ERROR(ParseInputField(field.key, field.value, what, in));
  if (in.tensor.name().empty()) return Invalid(what, "missing 'name'");
  what = absl::StrCat(what, " '", in.tensor.name(), "'");
  if (!in.has_shape) return Invalid(what, "missing 'shape'");
  if (!in.datatype.has_value()) return Invalid(what, "missing 'datatype'");
  ASSIGN_OR_RETURN(v1::DataType type, ParseSupportedDataType(*in.datatype, what));
  in.tensor.set_datatype(type);
  if (in.binary_data_size.has_value()) {
    if (in.has_data) return Invalid(what, "has both 'data' and 'binary_data_size'");
    RETURN_IF_ERROR(TakeBinary(*in.binary_data_size, what, binary, in.tensor));
    return std::move(in.tensor);
  }
  if (!in.has_data) return Invalid(what, "missing 'data'");
  RETURN_IF_ERROR(FillData(in.data, what, in.tensor));
  return std::move(in.tensor);
}

simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

absl::Status ParseInputs(const element& value, BinarySection& binary, InferRequest& request) {
  simdjson::dom::array inputs;
  if (value.get_array().get(inputs) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("'inputs' must be an array");
  }
  size_t i = 0;
  for (element input : inputs) {
    ASSIGN_OR_RETURN(v1::Tensor tensor, ParseInput(i++, input, binary));
    request.inputs.push_back(std::move(tensor));
  }
  return absl::OkStatus();
}

absl::Status ParseRequestedOutputs(const element& value, InferRequest& request) {
  simdjson::dom::array outputs;
  if (value.get_array().get(outputs) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("'outputs' must be an array of {\"name\": …}");
  }
  size_t i = 0;
  for (element output : outputs) {
    std::string_view name;
    const std::string what = absl::StrCat("outputs[", i++, "]");
    if (output["name"].get_string().get(name) != simdjson::SUCCESS) {
      return Invalid(what, "missing 'name' (a string)");
    }
    request.requested_outputs.emplace_back(name);
    element parameters;
    if (output["parameters"].get(parameters) == simdjson::SUCCESS) {
      if (parameters.type() != element_type::OBJECT) {
        return Invalid(what, "'parameters' must be an object");
      }
      element flag;
      if (parameters["binary_data"].get(flag) == simdjson::SUCCESS) {
        bool binary = false;
        if (flag.get_bool().get(binary) != simdjson::SUCCESS) {
          return Invalid(what, "parameter 'binary_data' must be true or false");
        }
        request.output_binary[std::string(name)] = binary;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseRequestField(std::string_view key, const element& value, BinarySection& binary,
                               InferRequest& request) {
  if (key == "inputs") return ParseInputs(value, binary, request);
  if (key == "outputs") return ParseRequestedOutputs(value, request);
  if (key == "id") {
    std::string_view id;
    if (value.get_string().get(id) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError("'id' must be a string");
    }
    request.id = std::string(id);
    return absl::OkStatus();
  }
  if (key == "parameters") {
    if (value.type() != element_type::OBJECT) {
      return absl::InvalidArgumentError("'parameters' must be an object");
    }
    return BoolParameter(value, "binary_data_output", "parameters", request.binary_data_output);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown field '", std::string(key),
                                                 "' (expected id, inputs, outputs, parameters)"));
}

absl::StatusOr<InferRequest> Parse(std::string_view body, BinarySection binary,
                                   uint32_t max_json_depth) {
  RETURN_IF_ERROR(common::CheckJsonDepth(body, max_json_depth, "the request body"));
  element doc;
  simdjson::error_code error = ThreadParser().parse(body.data(), body.size(), true).get(doc);
  if (error != simdjson::SUCCESS) return MalformedJson(body, error);
  if (doc.type() != element_type::OBJECT) {
    return absl::InvalidArgumentError(
        absl::StrCat("request body is ", JsonTypeName(doc.type()), ", expected a JSON object"));
  }
  InferRequest request;
  bool has_inputs = false;
  simdjson::dom::object fields;
  if (doc.get_object().get(fields) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("request body is not a JSON object");
  }
  for (auto field : fields) {
    RETURN_IF_ERROR(ParseRequestField(field.key, field.value, binary, request));
    has_inputs = has_inputs || field.key == "inputs";
  }
  if (!has_inputs) return absl::InvalidArgumentError("missing 'inputs'");
  std::set<std::string> names;
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    if (!names.insert(request.inputs[i].name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs[", i, "] '", request.inputs[i].name(), "': duplicate input name"));
    }
  }
  if (binary.used != binary.bytes.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the binary data is ", binary.bytes.size(),
                     " bytes, the inputs' binary_data_size add up to ", binary.used));
  }
  return request;
}

}  // namespace

bool InferRequest::WantsBinary(const std::string& name) const {
  auto it = output_binary.find(name);
  return it == output_binary.end() ? binary_data_output : it->second;
}

absl::StatusOr<InferRequest> ParseInferRequest(std::string_view body, uint32_t max_json_depth) {
  return Parse(body, BinarySection{}, max_json_depth);
}

absl::StatusOr<InferRequest> ParseInferHeader(std::string_view json, std::string_view binary,
                                              uint32_t max_json_depth) {
  return Parse(json, BinarySection{.present = true, .bytes = binary}, max_json_depth);
}

absl::Status CheckAgainstSignature(const InferRequest& request, const v1::FunctionSpec& spec) {
  using Kind = functions::SignatureMismatch::Kind;
  const functions::InputMatch match = functions::MatchInputs(spec.inputs(), request.inputs);
  if (match.mismatch.has_value()) {
    const functions::SignatureMismatch& m = *match.mismatch;
    const v1::TensorSignature* sig =
        m.kind == Kind::kUnknownInput ? nullptr : &spec.inputs(static_cast<int>(m.declared));
    if (m.kind == Kind::kMissingInput) {
      return absl::InvalidArgumentError(absl::StrCat("missing input '", sig->name(), "' (",
                                                     std::string(DataTypeName(sig->datatype())),
                                                     " ", ShapeString(sig->shape()), ")"));
    }
    const v1::Tensor& t = request.inputs[m.given];
    const std::string what = absl::StrCat("inputs[", m.given, "] '", t.name(), "'");
    switch (m.kind) {
      case Kind::kUnknownInput:
        return Invalid(what,
                       absl::StrCat("function '", spec.name(), "' has no such input (inputs: ",
                                    functions::InputNames(spec.inputs()), ")"));
      case Kind::kDuplicateInput:
        return Invalid(what, "duplicate input name");
      case Kind::kDatatype:
        return Invalid(what, absl::StrCat("datatype ", std::string(DataTypeName(t.datatype())),
                                          " does not match the signature's ",
                                          std::string(DataTypeName(sig->datatype()))));
      case Kind::kShape:
      case Kind::kMissingInput:  // returned above
        break;
    }
    return Invalid(
        what, absl::StrCat("shape ", ShapeString(t.shape()), " does not match the signature's ",
                           ShapeString(sig->shape()), " (-1 = any size)"));
  }
  for (const std::string& name : request.requested_outputs) {
    bool found = false;
    for (const auto& sig : spec.outputs()) found = found || sig.name() == name;
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat("requested output '", name, "': function '",
                                                     spec.name(), "' has no such output"));
    }
  }
  return absl::OkStatus();
}

}  // namespace stoa::gateway
