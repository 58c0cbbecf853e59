// Reading an ONNX model from a file without holding its weights twice.
//
// Parsing a ModelProto copies every initializer's raw_data into the proto,
// and building the graph copies it again into Tensors: a 300 MB model
// would need 600 MB at load, plus the bytes it was parsed from. ReadModelFile
// instead walks the protobuf wire format of the file (mapped read-only;
// only the pages that hold field headers are touched), copies everything
// but the raw_data of the main graph's large initializers into a skeleton
// that it parses, and reads those initializers with pread straight into
// the Tensors that BuildGraph (graph.h) then adopts. The skeleton keeps
// each one's name, data_type and dims, with a 4-byte placeholder as
// raw_data so the ONNX checker still sees a value field.
//
// Errors: INVALID_ARGUMENT "artifact is not a valid ONNX model: …" for a
// malformed wire format; NOT_FOUND / INTERNAL naming the file for I/O.
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "functions/onnx/model_limits.h"
#include "functions/onnx/tensor.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

struct ModelFile {
  ::onnx::ModelProto skeleton;
  std::map<std::string, Tensor> weights;  // by initializer name
  uint64_t file_bytes = 0;
};

// Initializers whose raw_data is at least `min_weight_bytes` long (FLOAT,
// DOUBLE, INT64, INT32, BOOL, UINT8, INT8) are read into `weights`. With
// `limits`, the node count is checked on the mapped bytes before anything
// is parsed (CheckNodeCount, as OnnxRuntime::Load does on its bytes): a
// graph of a million nodes is refused without building them.
absl::StatusOr<ModelFile> ReadModelFile(const std::string& path,
                                        uint64_t min_weight_bytes = 64 * 1024,
                                        const ModelLimits* limits = nullptr);

}  // namespace stoa::functions::onnx
