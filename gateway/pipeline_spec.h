// Pipeline functions (runtime "pipeline", docs/pipelines.md): a function
// whose body is an ordered list of 1..16 registered onnx or wasm functions
// of the same tenant. This file holds the rules on the spec: its JSON form,
// the checks at registration, and what a pipeline's artifact is.
//
// Data-passing rule, by position (the same at registration and per call):
//   onnx → onnx   output i of stage k is input i of stage k+1 (renamed to
//                 that input's name): the counts, datatypes and ranks must
//                 be equal, and every dimension static on both sides equal.
//   onnx → wasm   the outputs' raw bytes (little-endian, row-major),
//                 concatenated in output order, are the wasm stage's stdin.
//   wasm → onnx   the wasm stage's stdout is the raw bytes of the single
//                 input of the onnx stage: that stage must have exactly one
//                 input with at most one dynamic dimension (inferred from
//                 the byte count).
//   wasm → wasm   stdout is the next stage's stdin.
// A pipeline's signature is derived: inputs of its first stage, outputs and
// content_type of its last. Pipelines do not nest: a stage is never itself a
// pipeline, so there are no cycles and the depth is one.
//
// Thread safety: pure functions.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

inline constexpr int kMaxPipelineStages = 16;
inline constexpr char kPipelineRuntime[] = "pipeline";

bool IsPipeline(const v1::FunctionSpec& spec);

// Whether invoking `spec` takes (and answers) KServe tensors rather than
// raw bytes: an onnx function, or a pipeline whose first (last) stage is
// one (its derived inputs (outputs) are not empty).
bool TakesTensors(const v1::FunctionSpec& spec);
bool AnswersTensors(const v1::FunctionSpec& spec);

// "stage 2 (detect)": how every error about a stage starts (index from 0).
std::string StageLabel(int index, const std::string& function);

// The JSON "stages" value: an array of 1..16 objects {"function": NAME,
// "tier": "edge"|"cloud" (optional)}; INVALID_ARGUMENT naming the stage and
// the field. Fills spec.stages.
absl::Status ParsePipelineStages(const nlohmann::json& stages, v1::FunctionSpec& spec);
// The spec-level rule: runtime "pipeline" if and only if stages are given.
absl::Status CheckPipelineFields(const v1::FunctionSpec& spec);
nlohmann::json PipelineStagesToJson(const v1::FunctionSpec& spec);

// The bytes stored as a pipeline's artifact (its sha256 names the version):
// one line per stage, "function[@tier]".
std::string PipelineArtifact(const v1::FunctionSpec& spec);

// Whether stage `to` can take what stage `from` produces (the rule above);
// INVALID_ARGUMENT saying what does not fit, without the stage labels.
absl::Status CheckStageLink(const v1::FunctionSpec& from, const v1::FunctionSpec& to);

// Checks `pipeline` against the registered functions (`lookup`: NOT_FOUND
// for an unknown name) and derives its signature and content_type. Errors
// are INVALID_ARGUMENT naming the stage: unknown, another tenant's (said as
// "not found" when the pipeline has a tenant, so that a tenant learns
// nothing of another's functions), itself a pipeline, or a mismatch
// between two stages.
using SpecLookup = std::function<absl::StatusOr<v1::FunctionSpec>(const std::string&)>;
absl::Status ResolvePipeline(v1::FunctionSpec& pipeline, const SpecLookup& lookup);

// The pipelines among `specs` that have `function` as a stage, sorted.
std::vector<std::string> PipelinesUsing(const std::string& function,
                                        const std::vector<v1::FunctionSpec>& specs);

}  // namespace stoa::gateway
