#include "gateway/spec_json.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_text.h"
#include "common/status_macros.h"
#include "gateway/function_registry.h"
#include "gateway/kserve_codec.h"

namespace stoa::gateway {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("spec field '", field, "' ", message));
}

absl::StatusOr<int64_t> Integer(const json& v, const std::string& field, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) return Bad(field, "must be an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    return Bad(field, absl::StrCat("must be between ", lo, " and ", hi));
  }
  int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) return Bad(field, absl::StrCat("must be between ", lo, " and ", hi));
  return x;
}

// Fails naming every key of `object` outside `allowed`.
absl::Status CheckKeys(const json& object, const std::set<std::string>& allowed,
                       const std::string& prefix) {
  std::vector<std::string> unknown;
  for (const auto& [key, value] : object.items()) {
    if (!allowed.contains(key)) unknown.push_back(absl::StrCat("'", prefix, key, "'"));
  }
  if (unknown.empty()) return absl::OkStatus();
  std::vector<std::string> names(allowed.begin(), allowed.end());
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown spec field", unknown.size() > 1 ? "s " : " ", absl::StrJoin(unknown, ", "),
      " (allowed", prefix.empty() ? "" : absl::StrCat(" in ", prefix.substr(0, prefix.size() - 1)),
      ": ", absl::StrJoin(names, ", "), ")"));
}

absl::Status ParseFields(const json& doc, const common::RequestLimits& limits,
                         v1::FunctionSpec& spec) {
  if (!doc.contains("name")) return absl::InvalidArgumentError("spec is missing 'name'");
  if (!doc["name"].is_string()) return Bad("name", "must be a string");
  spec.set_name(doc["name"].get<std::string>());
  if (auto s = FunctionRegistry::ValidateName(spec.name()); !s.ok()) return s;

  if (!doc.contains("runtime")) {
    return absl::InvalidArgumentError("spec is missing 'runtime' (onnx or wasm)");
  }
  if (!doc["runtime"].is_string()) return Bad("runtime", "must be a string (onnx or wasm)");
  std::string runtime = doc["runtime"].get<std::string>();
  if (runtime != "onnx" && runtime != "wasm") {
    return Bad("runtime", absl::StrCat("must be onnx or wasm, got '", runtime, "'"));
  }
  spec.set_runtime(runtime);

  if (doc.contains("tiers")) {
    const json& tiers = doc["tiers"];
    if (!tiers.is_array() || tiers.empty()) {
      return Bad("tiers", "must be a non-empty array of \"edge\" and \"cloud\"");
    }
    std::set<std::string> seen;
    for (const json& t : tiers) {
      if (!t.is_string() || (t != "edge" && t != "cloud")) {
        return Bad("tiers", absl::StrCat("may contain only \"edge\" and \"cloud\", got ",
                                         common::DumpJson(t)));
      }
      if (!seen.insert(t.get<std::string>()).second) {
        return Bad("tiers", absl::StrCat("lists ", common::DumpJson(t), " twice"));
      }
      spec.add_tiers(t.get<std::string>());
    }
  } else {
    spec.add_tiers("edge");
    spec.add_tiers("cloud");
  }

  if (doc.contains("slo_ms")) {
    const json& v = doc["slo_ms"];
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
      return Bad("slo_ms", "must be a number >= 0");
    }
    spec.set_slo_ms(v.get<double>());
  }
  if (doc.contains("batching")) {
    const json& b = doc["batching"];
    if (!b.is_object()) return Bad("batching", "must be an object {max_batch, max_delay_us}");
    if (auto s = CheckKeys(b, {"max_batch", "max_delay_us"}, "batching."); !s.ok()) return s;
    if (b.contains("max_batch")) {
      auto v = Integer(b["max_batch"], "batching.max_batch", 1, 4096);
      if (!v.ok()) return v.status();
      spec.mutable_batching()->set_max_batch(static_cast<uint32_t>(*v));
    }
    if (b.contains("max_delay_us")) {
      auto v = Integer(b["max_delay_us"], "batching.max_delay_us", 0, 10'000'000);
      if (!v.ok()) return v.status();
      spec.mutable_batching()->set_max_delay_us(static_cast<uint32_t>(*v));
    }
  }
  if (doc.contains("limits")) {
    const json& l = doc["limits"];
    if (!l.is_object())
      return Bad("limits", "must be an object {timeout_ms, memory_mb, max_concurrency}");
    if (auto s = CheckKeys(l, {"timeout_ms", "memory_mb", "max_concurrency"}, "limits."); !s.ok())
      return s;
    if (l.contains("timeout_ms")) {
      auto v = Integer(l["timeout_ms"], "limits.timeout_ms", 0, UINT32_MAX);
      if (!v.ok()) return v.status();
      RETURN_IF_ERROR(common::CheckTimeoutMs(static_cast<uint64_t>(*v), limits.max_timeout_ms,
                                             "spec field 'limits.timeout_ms'"));
      spec.mutable_limits()->set_timeout_ms(static_cast<uint32_t>(*v));
    }
    if (l.contains("memory_mb")) {
      auto v = Integer(l["memory_mb"], "limits.memory_mb", 0, 1'048'576);
      if (!v.ok()) return v.status();
      spec.mutable_limits()->set_memory_mb(static_cast<uint32_t>(*v));
    }
    if (l.contains("max_concurrency")) {
      // 0: no per-function cap (admission control, gateway/admission.h).
      auto v = Integer(l["max_concurrency"], "limits.max_concurrency", 0, 1'000'000);
      if (!v.ok()) return v.status();
      spec.mutable_limits()->set_max_concurrency(static_cast<uint32_t>(*v));
    }
  }
  if (doc.contains("description")) {
    if (!doc["description"].is_string()) return Bad("description", "must be a string");
    std::string description = doc["description"].get<std::string>();
    if (description.size() > limits.max_description_bytes) {
      return Bad("description",
                 absl::StrCat("is ", description.size(), " bytes; the limit is ",
                              limits.max_description_bytes, " bytes (description length limit)"));
    }
    spec.set_description(std::move(description));
  }
  if (doc.contains("content_type")) {  // wasm: the Content-Type of the raw response
    const json& c = doc["content_type"];
    const std::string v = c.is_string() ? c.get<std::string>() : "";
    const size_t slash = v.find('/');
    if (!c.is_string() || v.size() > 255 || slash == 0 || slash == std::string::npos ||
        slash + 1 == v.size() ||
        std::any_of(v.begin(), v.end(), [](char ch) { return ch < 0x20 || ch == 0x7f; })) {
      return Bad("content_type", "must be a media type such as \"application/json\"");
    }
    spec.set_content_type(v);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::FunctionSpec> ParseFunctionSpec(std::string_view text,
                                                   std::optional<std::string>* artifact_base64,
                                                   const common::RequestLimits& limits) {
  RETURN_IF_ERROR(common::CheckJsonDepth(text, limits.max_json_depth, "spec"));
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("spec is malformed JSON at byte ", e.byte));
  } catch (const json::exception& e) {  // out_of_range: a number past a double's range
    return absl::InvalidArgumentError(absl::StrCat("spec is malformed JSON: ", e.what()));
  }
  if (!doc.is_object()) return absl::InvalidArgumentError("spec must be a JSON object");
  for (const char* derived : {"version", "sha256", "inputs", "outputs"}) {
    if (doc.contains(derived)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec field '", derived, "' is derived by the gateway from the artifact; leave it out"));
    }
  }
  std::set<std::string> allowed = {"name",     "runtime", "tiers",       "slo_ms",
                                   "batching", "limits",  "description", "content_type"};
  if (artifact_base64 != nullptr) allowed.insert("artifact_base64");
  if (auto s = CheckKeys(doc, allowed, ""); !s.ok()) return s;

  v1::FunctionSpec spec;
  try {
    if (auto s = ParseFields(doc, limits, spec); !s.ok()) return s;
    if (artifact_base64 != nullptr && doc.contains("artifact_base64")) {
      if (!doc["artifact_base64"].is_string()) {
        return absl::InvalidArgumentError("'artifact_base64' must be a string");
      }
      *artifact_base64 = doc["artifact_base64"].get<std::string>();
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("spec: ", e.what()));
  }
  return spec;
}

json SignatureToJson(const google::protobuf::RepeatedPtrField<v1::TensorSignature>& signature) {
  json out = json::array();
  for (const auto& s : signature) {
    json shape = json::array();
    for (int64_t d : s.shape()) shape.push_back(d);
    out.push_back({{"name", s.name()},
                   {"datatype", std::string(DataTypeName(s.datatype()))},
                   {"shape", shape}});
  }
  return out;
}

json FunctionSpecToJson(const v1::FunctionSpec& spec) {
  json tiers = json::array();
  for (const auto& t : spec.tiers()) tiers.push_back(t);
  return {
      {"name", spec.name()},
      {"version", spec.version()},
      {"sha256", spec.sha256()},
      {"runtime", spec.runtime()},
      {"tiers", tiers},
      {"slo_ms", spec.slo_ms()},
      {"batching",
       {{"max_batch", spec.batching().max_batch()},
        {"max_delay_us", spec.batching().max_delay_us()}}},
      {"limits",
       {{"timeout_ms", spec.limits().timeout_ms()},
        {"memory_mb", spec.limits().memory_mb()},
        {"max_concurrency", spec.limits().max_concurrency()}}},
      {"description", spec.description()},
      {"content_type", spec.content_type()},
      {"inputs", SignatureToJson(spec.inputs())},
      {"outputs", SignatureToJson(spec.outputs())},
  };
}

}  // namespace stoa::gateway
