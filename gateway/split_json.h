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

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "scheduler/split_planner.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

absl::Status ParseSplitField(const nlohmann::json& value, v1::FunctionSpec& spec);

// [{"tensor","after_node","datatype","shape","bytes","prefix_cost"}, ...]
nlohmann::json SplitCutsToJson(const v1::FunctionSpec& spec);

// The planner's view of split functions (SplitInvoker::Views), as the
// "split" object of GET /v1/scheduler/state:
//   {name:{"input_bytes":x (the last request's; the predictions are for it),
//          "link":{"target":"cloud","rate_mbit":x,"offset_ms":x,"samples":n,
//                  "rtt_ms":x} (transfer_ms = offset_ms + bytes / rate),
//          "edge_ms":x (the edge call's network time),
//          "options":[{"placement":"whole_edge"|"whole_cloud"|"split",
//                      "cut":name|null,"target":t,"predicted_ms":x,
//                      "observations":n,"terms":{"edge_ms","prefix_ms",
//                      "rtt_ms","transfer_ms","suffix_ms"}},…] (Decide's order),
//          "best":index (the smallest prediction),
//          "last_choice":{"placement","cut","predicted_ms","explored"}|null}}
using SplitViews = std::vector<std::pair<std::string, scheduler::SplitPlanner::FunctionView>>;
nlohmann::json SplitViewsToJson(const SplitViews& views);
// `state_json` (SchedulerStateJson's document) with "split" set to `split`.
std::string WithSplitState(std::string_view state_json, nlohmann::json split);

}  // namespace stoa::gateway
