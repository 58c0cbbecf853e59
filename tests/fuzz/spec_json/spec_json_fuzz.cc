// Fuzz target: the function spec JSON of the REST API (gateway/spec_json.h).
// Oracles: no crash or sanitizer report; no exception escapes; a spec that
// parses is written back (FunctionSpecToJson) as valid JSON.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/spec_json.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  (void)stoa::gateway::ParseFunctionSpec(json);
  std::optional<std::string> artifact_base64;
  auto spec = stoa::gateway::ParseFunctionSpec(json, &artifact_base64);
  if (!spec.ok()) return 0;
  const std::string written = stoa::gateway::FunctionSpecToJson(*spec).dump();
  stoa::fuzz::Require(nlohmann::json::accept(written), "spec written back is not JSON");
  return 0;
}
