#include "gateway/spec_json.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_text.h"
#include "common/status_macros.h"
#include "functions/spec_rules.h"
#include "gateway/kserve_codec.h"
#include "gateway/pipeline_spec.h"
#include "gateway/split_json.h"

namespace stoa::gateway {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("spec field '", field, "' ", message));
}

// A JSON integer within `range` (which also keeps it within uint32).
absl::StatusOr<uint32_t> Integer(const json& v, const std::string& field,
                                 functions::IntegerRange range) {
  if (!v.is_number_integer()) return Bad(field, "must be an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(range.hi)) {
    return functions::OutOfRange(field, range);
  }
  int64_t x = v.get<int64_t>();
  if (x < range.lo || x > range.hi) return functions::OutOfRange(field, range);
  return static_cast<uint32_t>(x);
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

absl::Status ParseLimits(const json& l, v1::FunctionSpec& spec) {
  if (!l.is_object()) {
    return Bad("limits", "must be an object {timeout_ms, memory_mb, max_concurrency}");
  }
  RETURN_IF_ERROR(CheckKeys(l, {"timeout_ms", "memory_mb", "max_concurrency"}, "limits."));
  if (l.contains("timeout_ms")) {
    ASSIGN_OR_RETURN(uint32_t v,
                     Integer(l["timeout_ms"], "limits.timeout_ms", functions::kTimeoutMsRange));
    spec.mutable_limits()->set_timeout_ms(v);
  }
  if (l.contains("memory_mb")) {
    ASSIGN_OR_RETURN(uint32_t v,
                     Integer(l["memory_mb"], "limits.memory_mb", functions::kMemoryMbRange));
    spec.mutable_limits()->set_memory_mb(v);
  }
  if (l.contains("max_concurrency")) {
    // 0: no per-function cap (admission control, gateway/admission.h).
    ASSIGN_OR_RETURN(uint32_t v, Integer(l["max_concurrency"], "limits.max_concurrency",
                                         functions::kMaxConcurrencyRange));
    spec.mutable_limits()->set_max_concurrency(v);
  }
  return absl::OkStatus();
}

// The JSON shape and types; the value rules follow on the proto
// (functions::ValidateFunctionSpec), shared with the executor's LoadFunction.
// "events": {"ttl_s": 1..31536000, "ordered": bool} (docs/events.md).
absl::Status ParseEvents(const json& e, v1::FunctionSpec& spec) {
  if (!e.is_object()) return Bad("events", "must be an object {ttl_s, ordered}");
  RETURN_IF_ERROR(CheckKeys(e, {"ttl_s", "ordered"}, "events."));
  if (e.contains("ttl_s")) {
    ASSIGN_OR_RETURN(uint32_t v, Integer(e["ttl_s"], "events.ttl_s", {1, 365 * 24 * 3600}));
    spec.mutable_events()->set_ttl_s(v);
  }
  if (e.contains("ordered")) {
    if (!e["ordered"].is_boolean()) return Bad("events.ordered", "must be true or false");
    spec.mutable_events()->set_ordered(e["ordered"].get<bool>());
  }
  return absl::OkStatus();
}

absl::Status ParseFields(const json& doc, v1::FunctionSpec& spec) {
  if (!doc.contains("name")) return absl::InvalidArgumentError("spec is missing 'name'");
  if (!doc["name"].is_string()) return Bad("name", "must be a string");
  spec.set_name(doc["name"].get<std::string>());

  if (!doc.contains("runtime")) {
    return absl::InvalidArgumentError("spec is missing 'runtime' (onnx or wasm)");
  }
  if (!doc["runtime"].is_string()) return Bad("runtime", "must be a string (onnx or wasm)");
  spec.set_runtime(doc["runtime"].get<std::string>());

  if (doc.contains("tiers")) {
    const json& tiers = doc["tiers"];
    if (!tiers.is_array() || tiers.empty()) {
      return Bad("tiers", "must be a non-empty array of \"edge\" and \"cloud\"");
    }
    for (const json& t : tiers) {
      if (!t.is_string()) {
        return Bad("tiers", absl::StrCat("may contain only \"edge\" and \"cloud\", got ",
                                         common::DumpJson(t)));
      }
      spec.add_tiers(t.get<std::string>());
    }
  } else {
    spec.add_tiers("edge");
    spec.add_tiers("cloud");
  }

  if (doc.contains("slo_ms")) {
    if (!doc["slo_ms"].is_number()) return Bad("slo_ms", "must be a number >= 0");
    spec.set_slo_ms(doc["slo_ms"].get<double>());
  }
  if (doc.contains("batching")) {
    const json& b = doc["batching"];
    if (!b.is_object()) return Bad("batching", "must be an object {max_batch, max_delay_us}");
    if (auto s = CheckKeys(b, {"max_batch", "max_delay_us"}, "batching."); !s.ok()) return s;
    if (b.contains("max_batch")) {
      ASSIGN_OR_RETURN(uint32_t v,
                       Integer(b["max_batch"], "batching.max_batch", functions::kMaxBatchRange));
      spec.mutable_batching()->set_max_batch(v);
    }
    if (b.contains("max_delay_us")) {
      ASSIGN_OR_RETURN(uint32_t v, Integer(b["max_delay_us"], "batching.max_delay_us",
                                           functions::kMaxDelayUsRange));
      spec.mutable_batching()->set_max_delay_us(v);
    }
  }
  if (doc.contains("limits")) RETURN_IF_ERROR(ParseLimits(doc["limits"], spec));
  if (doc.contains("description")) {
    if (!doc["description"].is_string()) return Bad("description", "must be a string");
    spec.set_description(doc["description"].get<std::string>());
  }
  if (doc.contains("content_type")) {  // wasm: the Content-Type of the raw response
    const json& c = doc["content_type"];
    // "" is "not set" on the proto; here it is a value, and not a media type.
    if (!c.is_string() || c.get<std::string>().empty()) {
      return Bad("content_type", "must be a media type such as \"application/json\"");
    }
    spec.set_content_type(c.get<std::string>());
  }
  if (doc.contains("events")) RETURN_IF_ERROR(ParseEvents(doc["events"], spec));
  if (doc.contains("split")) RETURN_IF_ERROR(ParseSplitField(doc["split"], spec));
  if (doc.contains("stages")) RETURN_IF_ERROR(ParsePipelineStages(doc["stages"], spec));
  if (doc.contains("tenant")) {  // the owner; who may name one: gateway/access_control.h
    const json& t = doc["tenant"];
    if (!t.is_string() || t.get<std::string>().empty()) {
      return Bad("tenant", "must be a tenant name such as \"acme\"");
    }
    spec.set_tenant(t.get<std::string>());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::FunctionSpec> ParseFunctionSpec(std::string_view text,
                                                   std::optional<std::string>* artifact_base64,
                                                   const common::RequestLimits& limits,
                                                   std::optional<std::string>* source) {
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
  for (const char* derived : {"version", "sha256", "inputs", "outputs", "split_cuts"}) {
    if (doc.contains(derived)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec field '", derived, "' is derived by the gateway from the artifact; leave it out"));
    }
  }
  std::set<std::string> allowed = {"name",     "runtime", "tiers",       "slo_ms",
                                   "batching", "limits",  "description", "content_type",
                                   "tenant",   "events",  "split",       "stages"};
  if (artifact_base64 != nullptr) allowed.insert("artifact_base64");
  if (source != nullptr) allowed.insert("source");
  if (auto s = CheckKeys(doc, allowed, ""); !s.ok()) return s;

  v1::FunctionSpec spec;
  try {
    RETURN_IF_ERROR(ParseFields(doc, spec));
    RETURN_IF_ERROR(functions::ValidateFunctionSpec(spec, limits));
    RETURN_IF_ERROR(CheckPipelineFields(spec));
    if (artifact_base64 != nullptr && doc.contains("artifact_base64")) {
      if (!doc["artifact_base64"].is_string()) {
        return absl::InvalidArgumentError("'artifact_base64' must be a string");
      }
      *artifact_base64 = doc["artifact_base64"].get<std::string>();
    }
    if (source != nullptr && doc.contains("source")) {
      if (!doc["source"].is_string())
        return absl::InvalidArgumentError("'source' must be a string");
      *source = doc["source"].get<std::string>();
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
  json out = {
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
      {"tenant", spec.tenant()},
      {"events", {{"ttl_s", spec.events().ttl_s()}, {"ordered", spec.events().ordered()}}},
      {"inputs", SignatureToJson(spec.inputs())},
      {"outputs", SignatureToJson(spec.outputs())},
  };
  if (spec.split()) {
    out["split"] = true;
    out["split_cuts"] = SplitCutsToJson(spec);
  }
  if (IsPipeline(spec)) out["stages"] = PipelineStagesToJson(spec);
  return out;
}

}  // namespace stoa::gateway
