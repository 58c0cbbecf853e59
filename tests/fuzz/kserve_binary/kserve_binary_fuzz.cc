// Fuzz target: the KServe v2 binary data extension's request parser
// (gateway/kserve_binary.h) and its binary response.
//   input = "<Inference-Header-Content-Length value>\n<body>"
//   → ParseHttpInferRequest → RenderHttpInferResponse (every output
//   binary) → the same tensors sent again as a binary request.
// Oracles: no crash or sanitizer report; every parsed tensor has exactly
// shape × element size bytes; the binary response is its JSON header
// (valid JSON, the header length it announces) followed by exactly the
// tensors' bytes; re-encoding the parsed tensors as a binary request parses
// back to the same tensors.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/kserve_binary.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

namespace {

using stoa::fuzz::Require;
namespace gw = stoa::gateway;

// The parsed tensors as a binary request: header JSON and raw bytes.
std::string Reencode(const gw::InferRequest& request, size_t& header_bytes) {
  nlohmann::json inputs = nlohmann::json::array();
  std::string tail;
  for (const auto& t : request.inputs) {
    inputs.push_back({{"name", t.name()},
                      {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())},
                      {"datatype", std::string(gw::DataTypeName(t.datatype()))},
                      {"parameters", {{"binary_data_size", t.raw().size()}}}});
    tail += t.raw();
  }
  std::string header = nlohmann::json{{"inputs", inputs}}.dump();
  header_bytes = header.size();
  return header + tail;
}

void CheckResponse(const gw::InferRequest& parsed) {
  google::protobuf::RepeatedPtrField<stoa::v1::Tensor> outputs;
  uint64_t raw_bytes = 0;
  for (const auto& t : parsed.inputs) {
    *outputs.Add() = t;
    raw_bytes += t.raw().size();
  }
  gw::InferRequest ask;
  ask.binary_data_output = true;
  auto response = gw::RenderHttpInferResponse("m", 1, ask, outputs);
  Require(response.ok(), "parsed tensors do not render: " + response.status().ToString());
  if (outputs.empty()) return;
  size_t json_bytes = 0;
  for (const auto& [name, value] : response->headers) {
    if (name == "Inference-Header-Content-Length") json_bytes = std::stoul(value);
  }
  Require(json_bytes + raw_bytes == response->body.size(),
          "binary response is not its header plus the tensors' bytes");
  Require(nlohmann::json::accept(response->body.substr(0, json_bytes)),
          "binary response header is not JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos || newline > 32) return 0;
  auto parsed = gw::ParseHttpInferRequest(input.substr(newline + 1), input.substr(0, newline));
  if (!parsed.ok()) return 0;
  for (const auto& t : parsed->inputs) {
    auto bytes = gw::TensorBytes(t.shape(), t.datatype(), t.name());
    Require(bytes.ok() && *bytes == t.raw().size(),
            "tensor '" + t.name() + "' bytes do not match its shape");
  }
  CheckResponse(*parsed);
  size_t header_bytes = 0;
  const std::string again = Reencode(*parsed, header_bytes);
  auto reparsed = gw::ParseHttpInferRequest(again, std::to_string(header_bytes));
  Require(reparsed.ok(), "re-encoded request does not parse: " + reparsed.status().ToString());
  Require(reparsed->inputs.size() == parsed->inputs.size(), "re-encoded request lost inputs");
  for (size_t i = 0; i < parsed->inputs.size(); ++i) {
    Require(reparsed->inputs[i].SerializeAsString() == parsed->inputs[i].SerializeAsString(),
            "re-encoded tensor differs: " + parsed->inputs[i].name());
  }
  return 0;
}
