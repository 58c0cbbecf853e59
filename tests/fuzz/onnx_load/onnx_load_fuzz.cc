// Fuzz target: the ONNX runtime's Load (functions/onnx/onnx_runtime.h):
// model bytes → protobuf parse → validation (graph, ops, attributes,
// initializers) → plan. Run it with a small -max_len and libFuzzer's
// -rss_limit_mb/-timeout (tests/fuzz/run.sh does): a model whose constant
// folding materializes a huge tensor is a finding of its own (issue 10).
// Oracles: no crash, sanitizer report or escaped exception; a model that
// loads has a signature with named inputs, and (strict mode, fuzz_check.h)
// every name in its signature is valid UTF-8, since the gateway writes them
// into JSON (issue 10: such names made GET /v1/functions answer 500).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "functions/onnx/onnx_runtime.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool IsUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* runtime = new stoa::functions::OnnxRuntime();
  stoa::v1::FunctionSpec spec;
  spec.set_name("fuzzed");
  spec.set_runtime("onnx");
  const std::string_view artifact(reinterpret_cast<const char*>(data), size);
  auto loaded = runtime->Load(spec, artifact);
  if (!loaded.ok()) return 0;
  const stoa::v1::FunctionSpec& loaded_spec = (*loaded)->spec();
  for (const auto& input : loaded_spec.inputs()) {
    stoa::fuzz::Require(!input.name().empty(), "a loaded model has an unnamed input");
  }
  if (!stoa::fuzz::StrictJson()) return 0;
  for (const auto* signature : {&loaded_spec.inputs(), &loaded_spec.outputs()}) {
    for (const auto& t : *signature) {
      stoa::fuzz::Require(IsUtf8(t.name()), "a loaded model's signature name is not valid UTF-8");
    }
  }
  return 0;
}
