#include "gateway/split_json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/kserve_types.h"

namespace stoa::gateway {

absl::Status ParseSplitField(const nlohmann::json& value, v1::FunctionSpec& spec) {
  if (!value.is_boolean()) {
    return absl::InvalidArgumentError("spec field 'split' must be true or false");
  }
  if (value.get<bool>() && spec.runtime() != "onnx") {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec field 'split' is for ONNX functions only; runtime is '", spec.runtime(), "'"));
  }
  spec.set_split(value.get<bool>());
  return absl::OkStatus();
}

nlohmann::json SplitCutsToJson(const v1::FunctionSpec& spec) {
  nlohmann::json out = nlohmann::json::array();
  for (const v1::SplitCut& c : spec.split_cuts()) {
    nlohmann::json shape = nlohmann::json::array();
    for (int64_t d : c.shape()) shape.push_back(d);
    out.push_back({{"tensor", c.tensor()},
                   {"after_node", c.after_node()},
                   {"datatype", std::string(DataTypeName(c.datatype()))},
                   {"shape", shape},
                   {"bytes", c.bytes()},
                   {"prefix_cost", c.prefix_cost()}});
  }
  return out;
}

}  // namespace stoa::gateway
