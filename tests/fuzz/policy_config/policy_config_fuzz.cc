// Fuzz target: placement policy documents (scheduler/policy_config.h), as
// PUT /v1/policy (JSON) and --policy-file (YAML) take them. The first byte
// picks the parser (even: JSON, odd: YAML), the rest is the document.
// Oracles: no crash or sanitizer report; no exception escapes; a policy
// that parses is written (PolicyToJson) as a document that parses back to
// the same policy.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "scheduler/policy_config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view doc(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto policy = (data[0] & 1) == 0 ? stoa::scheduler::ParsePolicyJson(doc)
                                   : stoa::scheduler::ParsePolicyYaml(doc);
  if (!policy.ok()) return 0;
  const std::string json = stoa::scheduler::PolicyToJson(*policy);
  auto again = stoa::scheduler::ParsePolicyJson(json);
  stoa::fuzz::Require(
      again.ok(), "PolicyToJson output does not parse: " + json + ": " + again.status().ToString());
  stoa::fuzz::Require(stoa::scheduler::PolicyToJson(*again) == json,
                      "policy changed on a round trip: " + json);
  return 0;
}
