#include "tests/conformance/kserve_path.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "functions/onnx/onnx_runtime.h"
#include "functions/onnx/wire_tensor.h"
#include "gateway/kserve_binary.h"
#include "nlohmann/json.hpp"

namespace stoa::conformance {
namespace {

namespace fs = std::filesystem;
using functions::onnx::ElementType;
using functions::onnx::Tensor;
using json = nlohmann::json;

json Shape(const Tensor& t) { return json(t.shape()); }

std::string TypeName(const Tensor& t) {
  return std::string(gateway::DataTypeName(functions::onnx::WireType(t.type())));
}

// The tensor's elements as JSON numbers / booleans; false when one is not
// representable (NaN or infinity).
bool JsonData(const Tensor& t, json& data) {
  data = json::array();
  for (int64_t i = 0; i < t.size(); ++i) {
    switch (t.type()) {
      case ElementType::kFloat32:
        if (!std::isfinite(t.floats()[i])) return false;
        data.push_back(t.floats()[i]);
        break;
      case ElementType::kFloat64:
        if (!std::isfinite(t.float64s()[i])) return false;
        data.push_back(t.float64s()[i]);
        break;
      case ElementType::kInt64:
        data.push_back(t.int64s()[i]);
        break;
      case ElementType::kInt32:
        data.push_back(t.int32s()[i]);
        break;
      case ElementType::kBool:
        data.push_back(t.bools()[i] != 0);
        break;
      case ElementType::kUInt8:
        data.push_back(t.uint8s()[i]);
        break;
      case ElementType::kInt8:
        data.push_back(t.int8s()[i]);
        break;
    }
  }
  return true;
}

std::string RawBytes(const Tensor& t) {
  return std::string(reinterpret_cast<const char*>(t.raw()),
                     static_cast<size_t>(t.size()) * functions::onnx::ElementSize(t.type()));
}

// A client's request body: JSON data, or binary data after the header
// (`header_bytes` set). False when JSON cannot carry an input.
bool EncodeRequest(const v1::FunctionSpec& spec, const std::vector<Tensor>& inputs, bool binary,
                   std::string& body, size_t& header_bytes) {
  json list = json::array();
  std::string tail;
  for (size_t i = 0; i < inputs.size(); ++i) {
    json in = {{"name", spec.inputs(static_cast<int>(i)).name()},
               {"shape", Shape(inputs[i])},
               {"datatype", TypeName(inputs[i])}};
    if (binary) {
      const std::string raw = RawBytes(inputs[i]);
      in["parameters"] = {{"binary_data_size", raw.size()}};
      tail += raw;
    } else if (json data; JsonData(inputs[i], data)) {
      in["data"] = std::move(data);
    } else {
      return false;
    }
    list.push_back(std::move(in));
  }
  json request = {{"inputs", list}};
  if (binary) request["parameters"] = {{"binary_data_output", true}};
  body = request.dump();
  header_bytes = body.size();
  body += tail;
  return true;
}

// A client's reading of one output (JSON data or binary bytes).
std::string DecodeOutput(const json& out, std::string_view& binary, Tensor& t) {
  const auto type = gateway::ParseDataType(out.at("datatype").get<std::string>());
  const auto engine = type ? functions::onnx::EngineType(*type) : std::nullopt;
  if (!engine) return absl::StrCat("datatype ", out.at("datatype").dump());
  t = Tensor::Empty(*engine, out.at("shape").get<std::vector<int64_t>>());
  const size_t bytes = static_cast<size_t>(t.size()) * functions::onnx::ElementSize(*engine);
  if (out.contains("parameters")) {
    const size_t n = out["parameters"].at("binary_data_size").get<size_t>();
    if (n != bytes || n > binary.size()) return "binary_data_size does not match";
    if (n != 0) std::memcpy(t.mutable_raw(), binary.data(), n);
    binary.remove_prefix(n);
    return "";
  }
  const json& data = out.at("data");
  if (data.size() != static_cast<size_t>(t.size())) return "data has the wrong length";
  for (int64_t i = 0; i < t.size(); ++i) {
    const json& v = data[static_cast<size_t>(i)];
    uint8_t* p = t.mutable_raw() + i * static_cast<int64_t>(functions::onnx::ElementSize(*engine));
    if (*engine == ElementType::kFloat32) {
      const float f = v.is_null() ? NAN : v.get<float>();
      std::memcpy(p, &f, 4);
    } else if (*engine == ElementType::kFloat64) {
      const double d = v.is_null() ? NAN : v.get<double>();
      std::memcpy(p, &d, 8);
    } else if (*engine == ElementType::kInt64) {
      const int64_t x = v.get<int64_t>();
      std::memcpy(p, &x, 8);
    } else if (*engine == ElementType::kInt32) {
      const int32_t x = v.get<int32_t>();
      std::memcpy(p, &x, 4);
    } else if (*engine == ElementType::kUInt8) {
      *p = v.get<uint8_t>();
    } else if (*engine == ElementType::kInt8) {
      const int8_t x = v.get<int8_t>();
      std::memcpy(p, &x, 1);
    } else {
      *p = v.get<bool>() ? 1 : 0;
    }
  }
  return "";
}

// One data set, one form; "" or why not.
std::string RunOnce(functions::LoadedFunction& fn, const std::vector<Tensor>& inputs,
                    const std::vector<Tensor>& expected, bool binary, const Tolerance& tol) {
  std::string body;
  size_t header_bytes = 0;
  if (!EncodeRequest(fn.spec(), inputs, binary, body, header_bytes)) return "";  // JSON lacks NaN
  auto request =
      gateway::ParseHttpInferRequest(body, binary ? std::to_string(header_bytes) : "", 64);
  if (!request.ok()) return absl::StrCat("codec: ", request.status().ToString());
  if (auto s = gateway::CheckAgainstSignature(*request, fn.spec()); !s.ok()) {
    return absl::StrCat("signature: ", s.ToString());
  }
  functions::InvocationInput in;
  in.tensors = request->inputs;
  auto out = fn.Invoke(in);
  if (!out.ok()) return absl::StrCat("invoke: ", out.status().ToString());
  google::protobuf::RepeatedPtrField<v1::Tensor> wire(out->tensors.begin(), out->tensors.end());
  auto response = gateway::RenderHttpInferResponse("conformance", 1, *request, wire);
  if (!response.ok()) return absl::StrCat("render: ", response.status().ToString());
  size_t json_bytes = response->body.size();
  for (const auto& [k, v] : response->headers) {
    if (k == "Inference-Header-Content-Length") json_bytes = std::stoul(v);
  }
  const json decoded = json::parse(response->body.substr(0, json_bytes));
  std::string_view tail = std::string_view(response->body).substr(json_bytes);
  const json& outputs = decoded.at("outputs");
  if (outputs.size() != expected.size()) return "wrong number of outputs";
  for (size_t i = 0; i < expected.size(); ++i) {
    Tensor got;
    std::string why = DecodeOutput(outputs[i], tail, got);
    if (why.empty()) why = Compare(got, expected[i], tol);
    if (!why.empty()) return absl::StrCat("output ", outputs[i]["name"].dump(), ": ", why);
  }
  return "";
}

}  // namespace

std::string RunThroughKserve(const std::string& dir, const functions::onnx::OpRegistry& registry,
                             const Tolerance& tolerance) {
  std::ifstream file(fs::path(dir) / "model.onnx", std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  functions::OnnxRuntime runtime(registry);
  v1::FunctionSpec spec;
  spec.set_name("conformance");
  auto fn = runtime.Load(spec, bytes.str());
  if (!fn.ok()) return absl::StrCat("load: ", fn.status().ToString());
  std::vector<fs::path> sets;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(entry);
  }
  std::sort(sets.begin(), sets.end());
  for (const fs::path& set : sets) {
    std::vector<Tensor> inputs, expected;
    for (const char* prefix : {"input_", "output_"}) {
      auto& into = prefix[0] == 'i' ? inputs : expected;
      for (int i = 0; fs::exists(set / absl::StrCat(prefix, i, ".pb")); ++i) {
        into.emplace_back();
        std::string why = LoadTensor(set / absl::StrCat(prefix, i, ".pb"), into.back());
        if (!why.empty()) return why;
      }
    }
    for (bool binary : {false, true}) {
      std::string why = RunOnce(**fn, inputs, expected, binary, tolerance);
      if (!why.empty()) {
        return absl::StrCat(set.filename().string(), binary ? " (binary): " : " (JSON): ", why);
      }
    }
  }
  return "";
}

}  // namespace stoa::conformance
