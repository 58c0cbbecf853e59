// What the cluster tests (cluster_test.cc, cluster_store_test.cc) register
// and send: the digits model as a cloud-only function, and one image.
#pragma once

#include <string>

#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {

// One digits request (KServe JSON, 64 pixels).
inline std::string OneImage() {
  nlohmann::json data = nlohmann::json::array();
  for (int i = 0; i < 64; ++i) data.push_back(i % 17);
  nlohmann::json body;
  body["inputs"] = nlohmann::json::array(
      {{{"name", "pixels"}, {"shape", {1, 64}}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

// The registration of the digits model as `name`, cloud only.
inline Multipart Digits(const std::string& name) {
  return MakeRegistration(
      R"({"name":")" + name +
          R"(","runtime":"onnx","tiers":["cloud"],"limits":{"timeout_ms":5000}})",
      ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx")));
}

}  // namespace stoa::testing
