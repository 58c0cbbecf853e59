// Fuzz target: the KServe v2 JSON codec (gateway/kserve_codec.h) and the
// response renderer (gateway/kserve_response.h) on what it parsed.
//   body → ParseInferRequest → CheckAgainstSignature (a fixed signature,
//   and the request's own) → RenderInferResponse of the parsed inputs.
// Oracles: no crash or sanitizer report; a parsed request matches a
// signature made of its own inputs unless it names an input twice; the
// parsed tensors render (their bytes match their shapes) as valid JSON.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "gateway/kserve_codec.h"
#include "gateway/kserve_response.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

namespace {

using stoa::fuzz::Require;

const stoa::v1::FunctionSpec& FixedSpec() {
  static const stoa::v1::FunctionSpec* spec = [] {
    auto* s = new stoa::v1::FunctionSpec();
    s->set_name("digits");
    s->set_runtime("onnx");
    auto* x = s->add_inputs();
    x->set_name("x");
    x->set_datatype(stoa::v1::FP32);
    x->add_shape(-1);
    x->add_shape(4);
    auto* y = s->add_outputs();
    y->set_name("y");
    y->set_datatype(stoa::v1::FP32);
    y->add_shape(-1);
    return s;
  }();
  return *spec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = stoa::gateway::ParseInferRequest(body);
  if (!parsed.ok()) return 0;
  (void)stoa::gateway::CheckAgainstSignature(*parsed, FixedSpec());

  stoa::v1::FunctionSpec own;
  google::protobuf::RepeatedPtrField<stoa::v1::Tensor> outputs;
  std::set<std::string> names;
  bool unique = true;
  for (const auto& t : parsed->inputs) {
    unique = names.insert(t.name()).second && unique;
    auto* in = own.add_inputs();
    in->set_name(t.name());
    in->set_datatype(t.datatype());
    *in->mutable_shape() = t.shape();
    auto* out = own.add_outputs();
    out->set_name(t.name());
    out->set_datatype(t.datatype());
    *out->mutable_shape() = t.shape();
    *outputs.Add() = t;
  }
  const auto self_check = stoa::gateway::CheckAgainstSignature(*parsed, own);
  bool requested_known = true;
  for (const auto& r : parsed->requested_outputs)
    requested_known = names.contains(r) && requested_known;
  if (unique && requested_known) {
    Require(self_check.ok(),
            "a request does not match its own signature: " + self_check.ToString());
  }

  auto rendered = stoa::gateway::RenderInferResponse("digits", 1, parsed->id, outputs);
  Require(rendered.ok(), "parsed tensors do not render: " + rendered.status().ToString());
  Require(nlohmann::json::accept(*rendered), "rendered response is not JSON: " + *rendered);
  (void)stoa::gateway::RenderInferResponse("digits", 1, parsed->id, outputs,
                                           parsed->requested_outputs);
  return 0;
}
