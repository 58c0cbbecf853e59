// The "split" field of a function spec (docs/split.md) in JSON: parsing it
// at registration and rendering the cut points the engine found.
//
// ParseSplitField: "split" must be true or false; true is refused with
// INVALID_ARGUMENT naming the field for any runtime but "onnx" ("spec field
// 'split' is for ONNX functions only; runtime is 'wasm'"). Call it after
// the runtime is parsed.
//
// Thread safety: pure functions.
#pragma once

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

absl::Status ParseSplitField(const nlohmann::json& value, v1::FunctionSpec& spec);

// [{"tensor","after_node","datatype","shape","bytes","prefix_cost"}, ...]
nlohmann::json SplitCutsToJson(const v1::FunctionSpec& spec);

}  // namespace stoa::gateway
