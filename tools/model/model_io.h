// Input and output of `stoa model`: the YAML input file, the JSON and the
// table renderings of a ModelResult.
//
// YAML (every key optional, defaults from ModelInput; an unknown key or a
// value of the wrong type is INVALID_ARGUMENT naming the key):
//   devices: 10
//   rate: 5                  # requests/s per device
//   request_bytes: 1200
//   response_bytes: 200
//   endpoint: {proc_ms: 4, cores: 1}
//   edge:     {proc_ms: 0.3, cores: 0.5}
//   cloud:    {proc_ms: 0.2, cores: 2}
//   edge_link:  {rtt_ms: 15, rate_mbit: 1000}
//   cloud_link: {rtt_ms: 90, rate_mbit: 7.21}
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tools/model/continuum_model.h"

namespace stoa::tools::model {

// Overlays the keys present in `yaml_text` onto `in`.
absl::Status ApplyYaml(const std::string& yaml_text, ModelInput& in);

nlohmann::json ToJson(const ModelInput& in, const ModelResult& result);
std::string ToTable(const ModelInput& in, const ModelResult& result);

}  // namespace stoa::tools::model
