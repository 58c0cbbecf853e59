// The attributes of one ONNX node, converted once at load from the
// NodeProto so that kernels read typed values without touching protobuf.
//
// Thread safety: const methods may be called from any thread.
// Errors: Get* return INVALID_ARGUMENT naming the attribute when it has
// another type than asked for; a missing attribute yields the default.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/tensor.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

class Attributes {
 public:
  using Value = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                             std::vector<std::string>, Tensor>;

  // INVALID_ARGUMENT for attribute kinds the engine does not hold (lists of
  // graphs, sparse tensors) or for a TENSOR attribute it cannot convert.
  // GRAPH attributes are skipped here: BuildGraph builds them into
  // Node::subgraphs.
  static absl::StatusOr<Attributes> FromProto(const ::onnx::NodeProto& node);

  bool Has(std::string_view name) const { return values_.find(name) != values_.end(); }
  absl::StatusOr<int64_t> GetInt(std::string_view name, int64_t default_value) const;
  absl::StatusOr<float> GetFloat(std::string_view name, float default_value) const;
  absl::StatusOr<std::string> GetString(std::string_view name, std::string default_value) const;
  absl::StatusOr<std::vector<int64_t>> GetInts(std::string_view name) const;  // default: empty
  absl::StatusOr<std::vector<float>> GetFloats(std::string_view name) const;  // default: empty
  absl::StatusOr<std::vector<std::string>> GetStrings(
      std::string_view name) const;  // default: empty
  // NOT_FOUND when absent.
  absl::StatusOr<const Tensor*> GetTensor(std::string_view name) const;

  void Set(std::string name, Value value) { values_[std::move(name)] = std::move(value); }

 private:
  template <typename T>
  absl::StatusOr<const T*> Find(std::string_view name, const char* type) const;

  std::map<std::string, Value, std::less<>> values_;
};

}  // namespace stoa::functions::onnx
