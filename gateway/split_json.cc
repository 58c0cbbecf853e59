#include "gateway/split_json.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/json_text.h"
#include "gateway/kserve_types.h"

namespace stoa::gateway {
namespace {

using Json = nlohmann::json;
using scheduler::SplitCandidate;

Json NumberOrNull(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

std::string Placement(const std::string& target, const std::string& cut) {
  return cut.empty() ? absl::StrCat("whole_", target) : "split";
}

Json OptionJson(const scheduler::SplitPlanner::CutView& option) {
  const SplitCandidate& c = option.candidate;
  const double transfer = scheduler::TransferMs(c);
  return {{"placement", Placement(c.target, c.cut)},
          {"cut", c.cut.empty() ? Json(nullptr) : Json(c.cut)},
          {"target", c.target},
          {"predicted_ms", NumberOrNull(option.predicted_ms)},
          {"observations", option.observations},
          {"terms",
           {{"edge_ms", c.edge_ms},
            {"prefix_ms", c.prefix_ms},
            {"rtt_ms", c.rtt_ms},
            {"transfer_ms", transfer},
            {"suffix_ms", c.suffix_ms}}}};
}

Json FunctionViewJson(const scheduler::SplitPlanner::FunctionView& view) {
  Json options = Json::array();
  size_t best = 0;
  double rtt_ms = 0.0;
  std::string remote;
  for (size_t i = 0; i < view.options.size(); ++i) {
    options.push_back(OptionJson(view.options[i]));
    if (view.options[i].predicted_ms < view.options[best].predicted_ms) best = i;
    if (view.options[i].candidate.target != "edge") {
      remote = view.options[i].candidate.target;
      rtt_ms = view.options[i].candidate.rtt_ms;
    }
  }
  Json last = nullptr;
  if (view.last.has_value()) {
    last = {{"placement", Placement(view.last->target, view.last->cut)},
            {"cut", view.last->cut.empty() ? Json(nullptr) : Json(view.last->cut)},
            {"predicted_ms", NumberOrNull(view.last->predicted_ms)},
            {"explored", view.last->explored}};
  }
  // bytes per ms -> Mbit/s: × 1000 × 8 / 1e6.
  return {{"input_bytes", view.input_bytes},
          {"link",
           {{"target", remote},
            {"rate_mbit", NumberOrNull(view.rate_bytes_per_ms * 8e-3)},
            {"offset_ms", view.link_offset_ms},
            {"samples", view.rate_samples},
            {"rtt_ms", rtt_ms}}},
          {"edge_ms", view.edge_ms},
          {"options", std::move(options)},
          {"best", view.options.empty() ? Json(nullptr) : Json(best)},
          {"last_choice", std::move(last)}};
}

}  // namespace

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

Json SplitViewsToJson(const SplitViews& views) {
  Json out = Json::object();
  for (const auto& [name, view] : views) out[name] = FunctionViewJson(view);
  return out;
}

std::string WithSplitState(std::string_view state_json, Json split) {
  Json doc = Json::parse(state_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::string(state_json);  // not ours to fix: left as it is
  doc["split"] = std::move(split);
  return common::DumpJson(doc);
}

}  // namespace stoa::gateway
