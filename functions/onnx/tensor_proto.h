// Conversion of ONNX TensorProto (initializers, TENSOR attributes) to the
// engine's Tensor. FLOAT, DOUBLE, INT64, INT32, BOOL, UINT8 and INT8 are supported, from
// the typed fields (float_data, double_data, int64_data, int32_data) or from
// raw_data (little-endian).
//
// Errors: INVALID_ARGUMENT naming the tensor for another data type, external
// data, or a payload whose size does not match the dims.
#pragma once

#include "absl/status/statusor.h"
#include "functions/onnx/tensor.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

absl::StatusOr<Tensor> TensorFromProto(const ::onnx::TensorProto& proto);

// ONNX's name of a TensorProto::DataType value ("FLOAT", "INT64", ...).
std::string OnnxDataTypeName(int32_t data_type);

// The engine type of an ONNX TensorProto::DataType; INVALID_ARGUMENT naming
// the type for one the engine does not hold.
absl::StatusOr<ElementType> ElementTypeFromOnnx(int32_t data_type);

}  // namespace stoa::functions::onnx
