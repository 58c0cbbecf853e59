#include "gateway/pipeline_spec.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_text.h"
#include "common/status_macros.h"
#include "functions/spec_rules.h"
#include "gateway/kserve_codec.h"

namespace stoa::gateway {
namespace {

using nlohmann::json;

std::string ShapeText(const google::protobuf::RepeatedField<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

std::string Describe(const v1::TensorSignature& s) {
  return absl::StrCat("'", s.name(), "' ", std::string(DataTypeName(s.datatype())), " ",
                      ShapeText(s.shape()));
}

absl::Status ParseStage(const json& stage, int index, v1::PipelineStage& out) {
  const std::string where = absl::StrCat("spec field 'stages[", index, "]'");
  if (!stage.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " must be an object {\"function\": NAME, \"tier\": \"edge\"|\"cloud\"}"));
  }
  for (const auto& [key, value] : stage.items()) {
    if (key != "function" && key != "tier") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has unknown field '", key, "' (allowed: function, tier)"));
    }
  }
  if (!stage.contains("function") || !stage["function"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " needs 'function', the name of a registered function"));
  }
  out.set_function(stage["function"].get<std::string>());
  if (auto s = functions::ValidateFunctionName(out.function()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
  }
  if (stage.contains("tier")) {
    const json& t = stage["tier"];
    if (!t.is_string() || (t.get<std::string>() != "edge" && t.get<std::string>() != "cloud")) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " field 'tier' must be \"edge\" or \"cloud\", got ", common::DumpJson(t)));
    }
    out.set_tier(t.get<std::string>());
  }
  return absl::OkStatus();
}

// Dimension `d` of both sides fits when either is dynamic or they are equal.
absl::Status CheckTensorLink(const v1::TensorSignature& out, const v1::TensorSignature& in,
                             int position) {
  const std::string pair = absl::StrCat("output ", position, " ", Describe(out),
                                        " does not fit input ", position, " ", Describe(in));
  if (out.datatype() != in.datatype()) return absl::InvalidArgumentError(pair + ": datatype");
  if (out.shape_size() != in.shape_size()) return absl::InvalidArgumentError(pair + ": rank");
  for (int d = 0; d < out.shape_size(); ++d) {
    if (out.shape(d) >= 0 && in.shape(d) >= 0 && out.shape(d) != in.shape(d)) {
      return absl::InvalidArgumentError(absl::StrCat(pair, ": dimension ", d));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsPipeline(const v1::FunctionSpec& spec) { return spec.runtime() == kPipelineRuntime; }

bool TakesTensors(const v1::FunctionSpec& spec) {
  return spec.runtime() == "onnx" || (IsPipeline(spec) && spec.inputs_size() > 0);
}

bool AnswersTensors(const v1::FunctionSpec& spec) {
  return spec.runtime() == "onnx" || (IsPipeline(spec) && spec.outputs_size() > 0);
}

std::string StageLabel(int index, const std::string& function) {
  return absl::StrCat("stage ", index + 1, " (", function, ")");
}

absl::Status ParsePipelineStages(const json& stages, v1::FunctionSpec& spec) {
  if (!stages.is_array() || stages.empty() ||
      stages.size() > static_cast<size_t>(kMaxPipelineStages)) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec field 'stages' must be an array of 1 to ", kMaxPipelineStages,
                     " stages {\"function\": NAME}",
                     stages.is_array() ? absl::StrCat(", got ", stages.size()) : std::string()));
  }
  spec.clear_stages();
  for (size_t i = 0; i < stages.size(); ++i) {
    RETURN_IF_ERROR(ParseStage(stages[i], static_cast<int>(i), *spec.add_stages()));
  }
  return absl::OkStatus();
}

absl::Status CheckPipelineFields(const v1::FunctionSpec& spec) {
  if (IsPipeline(spec) && spec.stages_size() == 0) {
    return absl::InvalidArgumentError(
        "a pipeline needs 'stages': [{\"function\": NAME}, ...] (1 to 16)");
  }
  if (!IsPipeline(spec) && spec.stages_size() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec field 'stages' is only for runtime \"pipeline\", not \"", spec.runtime(), "\""));
  }
  return absl::OkStatus();
}

json PipelineStagesToJson(const v1::FunctionSpec& spec) {
  json out = json::array();
  for (const auto& stage : spec.stages()) {
    json s = {{"function", stage.function()}};
    if (!stage.tier().empty()) s["tier"] = stage.tier();
    out.push_back(std::move(s));
  }
  return out;
}

std::string PipelineArtifact(const v1::FunctionSpec& spec) {
  std::string out = "stoa pipeline v1\n";
  for (const auto& stage : spec.stages()) {
    absl::StrAppend(&out, stage.function(), stage.tier().empty() ? "" : "@", stage.tier(), "\n");
  }
  return out;
}

absl::Status CheckStageLink(const v1::FunctionSpec& from, const v1::FunctionSpec& to) {
  const bool out_tensors = from.runtime() == "onnx";
  if (to.runtime() == "wasm") return absl::OkStatus();  // bytes: anything goes
  if (!out_tensors) {
    // wasm → onnx: the bytes are the one input's data.
    if (to.inputs_size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("a wasm stage's output can feed only an onnx function with one input; '",
                       to.name(), "' has ", to.inputs_size()));
    }
    const auto& shape = to.inputs(0).shape();
    if (std::count_if(shape.begin(), shape.end(), [](int64_t d) { return d < 0; }) > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("a wasm stage's output can feed only an input with at most one dynamic "
                       "dimension; input ",
                       Describe(to.inputs(0)), " has more"));
    }
    return absl::OkStatus();
  }
  if (from.outputs_size() != to.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("'", from.name(), "' has ", from.outputs_size(),
                                                   " outputs but '", to.name(), "' takes ",
                                                   to.inputs_size(), " inputs"));
  }
  for (int i = 0; i < from.outputs_size(); ++i) {
    RETURN_IF_ERROR(CheckTensorLink(from.outputs(i), to.inputs(i), i));
  }
  return absl::OkStatus();
}

absl::Status ResolvePipeline(v1::FunctionSpec& pipeline, const SpecLookup& lookup) {
  RETURN_IF_ERROR(CheckPipelineFields(pipeline));
  std::vector<v1::FunctionSpec> stages;
  for (int i = 0; i < pipeline.stages_size(); ++i) {
    const std::string& name = pipeline.stages(i).function();
    const std::string label = StageLabel(i, name);
    if (name == pipeline.name()) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": a pipeline cannot be a stage of itself"));
    }
    absl::StatusOr<v1::FunctionSpec> stage = lookup(name);
    const bool hidden = stage.ok() && stage->tenant() != pipeline.tenant();
    if (!stage.ok() || (hidden && !pipeline.tenant().empty())) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": function '", name, "' not found (register it first)"));
    }
    if (hidden) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": function '", name, "' belongs to tenant '", stage->tenant(),
                       "'; a pipeline's stages belong to the pipeline's own tenant"));
    }
    if (IsPipeline(*stage)) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": '", name, "' is itself a pipeline; pipelines do not nest (list its stages)"));
    }
    if (!stages.empty()) {
      if (auto s = CheckStageLink(stages.back(), *stage); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(label, ": does not take what ",
                                                       StageLabel(i - 1, stages.back().name()),
                                                       " produces: ", s.message()));
      }
    }
    stages.push_back(*std::move(stage));
  }
  *pipeline.mutable_inputs() = stages.front().inputs();
  *pipeline.mutable_outputs() = stages.back().outputs();
  if (pipeline.content_type().empty()) pipeline.set_content_type(stages.back().content_type());
  return absl::OkStatus();
}

std::vector<std::string> PipelinesUsing(const std::string& function,
                                        const std::vector<v1::FunctionSpec>& specs) {
  std::vector<std::string> out;
  for (const auto& spec : specs) {
    if (!IsPipeline(spec)) continue;
    for (const auto& stage : spec.stages()) {
      if (stage.function() == function) {
        out.push_back(spec.name());
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace stoa::gateway
