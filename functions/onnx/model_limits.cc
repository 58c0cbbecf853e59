#include "functions/onnx/model_limits.h"

#include <climits>

#include "absl/strings/str_cat.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/tensor_proto.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "onnx/defs/schema.h"

namespace stoa::functions::onnx {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr int kModelGraphField = 7;  // ModelProto.graph
constexpr int kGraphNodeField = 1;   // GraphProto.node

bool IsLengthDelimited(uint32_t tag) {
  return WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
}

// Nodes in one serialized GraphProto, or -1 when the bytes are malformed.
int64_t CountNodesIn(google::protobuf::io::CodedInputStream& in) {
  int64_t nodes = 0;
  while (uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == kGraphNodeField && IsLengthDelimited(tag)) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length) || !in.Skip(static_cast<int>(length))) return -1;
      ++nodes;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return -1;
    }
  }
  return nodes;
}

}  // namespace

int64_t MaxSupportedOpset() {
  const auto& ranges = ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = ranges.find(::onnx::ONNX_DOMAIN);
  return it == ranges.end() ? 1 : it->second.second;
}

absl::Status CheckNodeCount(std::string_view artifact, const ModelLimits& limits) {
  if (artifact.size() > static_cast<size_t>(INT_MAX)) return absl::OkStatus();
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(artifact.data()),
                                            static_cast<int>(artifact.size()));
  int64_t nodes = 0;
  while (uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == kModelGraphField && IsLengthDelimited(tag)) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return absl::OkStatus();
      const auto limit = in.PushLimit(static_cast<int>(length));
      const int64_t in_graph = CountNodesIn(in);
      if (in_graph < 0) return absl::OkStatus();
      nodes += in_graph;
      in.PopLimit(limit);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return absl::OkStatus();
    }
  }
  if (nodes <= limits.max_nodes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("model has ", nodes, " nodes; the limit is ", limits.max_nodes,
                   " nodes (ONNX graph node limit: --onnx-max-nodes)"));
}

absl::Status CheckOpset(int64_t opset) {
  const int64_t newest = MaxSupportedOpset();
  if (opset >= 1 && opset <= newest) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("model imports opset ", opset,
                   " of the default ONNX domain; this engine supports opsets 1 to ", newest,
                   " (ONNX opset limit)"));
}

absl::Status CheckInitializerBytes(const ::onnx::GraphProto& graph, const ModelLimits& limits) {
  int64_t total = 0;
  for (const ::onnx::TensorProto& init : graph.initializer()) {
    absl::StatusOr<ElementType> type = ElementTypeFromOnnx(init.data_type());
    if (!type.ok()) continue;  // refused with its own message when decoded
    const int64_t bytes = TensorBytes(
        *type,
        std::span<const int64_t>(init.dims().data(), static_cast<size_t>(init.dims().size())));
    if (__builtin_add_overflow(total, bytes, &total)) total = INT64_MAX;
    if (total > limits.max_initializer_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("model's initializers take more than ", limits.max_initializer_bytes,
                       " bytes (at initializer '", init.name(), "'); the limit is ",
                       limits.max_initializer_bytes,
                       " bytes (ONNX initializer size limit: "
                       "--onnx-max-initializer-mb)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace stoa::functions::onnx
