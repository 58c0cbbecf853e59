#include "functions/stage_data.h"

#include "absl/strings/str_cat.h"
#include "proto/stoa/v1/datatype.h"

namespace stoa::functions {
namespace {

std::string Shape(const google::protobuf::RepeatedField<int64_t>& shape) {
  return ShapeString(std::span<const int64_t>(shape.data(), shape.size()));
}

// Bytes → the stage's single input tensor.
absl::StatusOr<v1::Tensor> BytesAsInput(std::string bytes, const v1::TensorSignature& input) {
  const size_t element = v1::DataTypeBytes(input.datatype());
  if (element == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", input.name(), "' has no datatype to read bytes as"));
  }
  uint64_t fixed = 1;
  int dynamic = -1;
  for (int d = 0; d < input.shape_size(); ++d) {
    if (input.shape(d) < 0) {
      if (dynamic >= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", input.name(), "' ", Shape(input.shape()),
                         " has more than one dynamic dimension: bytes cannot be shaped into it"));
      }
      dynamic = d;
    } else {
      fixed *= static_cast<uint64_t>(input.shape(d));
    }
  }
  const uint64_t unit = fixed * element;
  if (unit == 0 || bytes.size() % unit != 0 || (dynamic < 0 && bytes.size() != unit) ||
      bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("got ", bytes.size(), " bytes, which do not make input '", input.name(), "' ",
                     (v1::DataType_Name(input.datatype())), " ", Shape(input.shape()), " (",
                     dynamic < 0 ? "exactly " : "a multiple of ", unit, " bytes)"));
  }
  v1::Tensor tensor;
  tensor.set_name(input.name());
  tensor.set_datatype(input.datatype());
  for (int d = 0; d < input.shape_size(); ++d) {
    tensor.add_shape(d == dynamic ? static_cast<int64_t>(bytes.size() / unit) : input.shape(d));
  }
  tensor.set_raw(std::move(bytes));
  return tensor;
}

absl::Status RenameByPosition(v1::InvokeRequest& request, const StageShape& stage) {
  if (request.inputs_size() != stage.inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", request.inputs_size(), " tensors; '",
                                                   stage.name, "' takes ", stage.inputs.size(),
                                                   " inputs"));
  }
  for (int i = 0; i < request.inputs_size(); ++i) {
    v1::Tensor& t = *request.mutable_inputs(i);
    const v1::TensorSignature& want = stage.inputs[i];
    if (t.datatype() != want.datatype()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", i, " '", t.name(), "' is ", (v1::DataType_Name(t.datatype())),
                       "; input '", want.name(), "' takes ", (v1::DataType_Name(want.datatype()))));
    }
    t.set_name(want.name());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::InvokeRequest> StageRequest(v1::InvokeRequest input, const StageShape& stage) {
  v1::InvokeRequest out;
  out.set_timeout_ms(input.timeout_ms());
  const bool tensors = input.inputs_size() > 0;
  if (stage.runtime == "wasm") {
    if (!tensors) {
      out.set_raw(std::move(*input.mutable_raw()));
      return out;
    }
    std::string* raw = out.mutable_raw();
    for (auto& t : *input.mutable_inputs()) raw->append(t.raw());
    return out;
  }
  if (tensors) {
    *out.mutable_inputs() = std::move(*input.mutable_inputs());
    if (auto s = RenameByPosition(out, stage); !s.ok()) return s;
    return out;
  }
  if (stage.inputs.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("got bytes; '", stage.name, "' takes ",
                                                   stage.inputs.size(),
                                                   " inputs (bytes make only one)"));
  }
  absl::StatusOr<v1::Tensor> tensor =
      BytesAsInput(std::move(*input.mutable_raw()), stage.inputs[0]);
  if (!tensor.ok()) return tensor.status();
  *out.add_inputs() = *std::move(tensor);
  return out;
}

v1::InvokeRequest AsNextInput(v1::InvokeResponse output) {
  v1::InvokeRequest next;
  *next.mutable_inputs() = std::move(*output.mutable_outputs());
  next.set_raw(std::move(*output.mutable_raw()));
  return next;
}

}  // namespace stoa::functions
