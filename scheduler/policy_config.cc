#include "scheduler/policy_config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/check.h"
#include "common/json_text.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace stoa::scheduler {
namespace {

using Json = nlohmann::json;

constexpr PolicyKind kAllKinds[] = {
    PolicyKind::kPredictive, PolicyKind::kEdgeOnly, PolicyKind::kCloudOnly, PolicyKind::kRoundRobin,
    PolicyKind::kRandom,     PolicyKind::kSlo,      PolicyKind::kWeighted};

std::string_view ObjectiveName(Objective o) { return o == Objective::kMean ? "mean" : "p95"; }

std::string AllKindNames() {
  std::string out;
  for (PolicyKind k : kAllKinds) {
    if (!out.empty()) out += '|';
    out += std::string(PolicyKindName(k));
  }
  return out;
}

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

// A short rendering of a JSON value for error messages.
std::string Show(const Json& v) {
  std::string s = common::DumpJson(v);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

const char* TypeName(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

absl::Status RejectUnknown(const Json& object, const std::string& prefix,
                           std::initializer_list<const char*> known) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (const char* k : known) found = found || key == k;
    if (!found) {
      return Invalid(absl::StrCat("unknown field '", prefix, key,
                                  "' (allowed: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

// A finite number in [lo, hi]; `lo_open` excludes lo itself.
absl::StatusOr<double> Number(const Json& v, const std::string& field, double lo, double hi,
                              bool lo_open, const std::string& range) {
  if (!v.is_number()) {
    return Invalid(
        absl::StrCat("field '", field, "' must be a number ", range, ", got ", TypeName(v)));
  }
  double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || (lo_open && d == lo) || d > hi) {
    return Invalid(absl::StrCat("field '", field, "' must be ", range, ", got ", Show(v)));
  }
  return d;
}

absl::StatusOr<int> PositiveInt(const Json& v, const std::string& field) {
  constexpr double kMax = std::numeric_limits<int>::max();
  bool integral = v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                            std::floor(v.get<double>()) == v.get<double>());
  if (!integral) {
    return Invalid(absl::StrCat("field '", field, "' must be an integer >= 1, got ",
                                v.is_number() ? Show(v) : TypeName(v)));
  }
  double d = v.get<double>();
  if (d < 1 || d > kMax) {
    return Invalid(absl::StrCat("field '", field, "' must be an integer in [1, ",
                                static_cast<int>(kMax), "], got ", Show(v)));
  }
  return static_cast<int>(d);
}

absl::StatusOr<std::string> String(const Json& v, const std::string& field,
                                   const std::string& allowed) {
  if (!v.is_string()) {
    return Invalid(absl::StrCat("field '", field, "' must be a string, one of ", allowed, ", got ",
                                TypeName(v)));
  }
  return v.get<std::string>();
}

absl::StatusOr<bool> Boolean(const Json& v, const std::string& field) {
  if (!v.is_boolean()) {
    return Invalid(absl::StrCat("field '", field, "' must be a boolean, got ", TypeName(v)));
  }
  return v.get<bool>();
}

absl::Status ParseWeights(const Json& v, PolicyConfig::Weights& w) {
  if (!v.is_object()) {
    return Invalid(absl::StrCat(
        "field 'weights' must be an object with latency, cost, energy, got ", TypeName(v)));
  }
  RETURN_IF_ERROR(RejectUnknown(v, "weights.", {"latency", "cost", "energy"}));
  constexpr double kInf = std::numeric_limits<double>::infinity();
  struct Item {
    const char* name;
    double* target;
  };
  for (Item item :
       {Item{"latency", &w.latency}, Item{"cost", &w.cost}, Item{"energy", &w.energy}}) {
    if (!v.contains(item.name)) continue;
    ASSIGN_OR_RETURN(*item.target, Number(v[item.name], absl::StrCat("weights.", item.name), 0.0,
                                          kInf, false, ">= 0"));
  }
  return absl::OkStatus();
}

absl::Status ParseCircuit(const Json& v, PolicyConfig::Circuit& c) {
  if (!v.is_object()) {
    return Invalid(absl::StrCat("field 'circuit' must be an object with failures, open_ms, got ",
                                TypeName(v)));
  }
  RETURN_IF_ERROR(RejectUnknown(v, "circuit.", {"failures", "open_ms"}));
  if (v.contains("failures")) {
    ASSIGN_OR_RETURN(c.failures, PositiveInt(v["failures"], "circuit.failures"));
  }
  if (v.contains("open_ms")) {
    ASSIGN_OR_RETURN(c.open_ms, PositiveInt(v["open_ms"], "circuit.open_ms"));
  }
  return absl::OkStatus();
}

// The one validator behind both the JSON and the YAML parser.
absl::StatusOr<PolicyConfig> FromJson(const Json& doc) {
  if (!doc.is_object()) {
    return Invalid(absl::StrCat("policy document must be an object, got ", TypeName(doc)));
  }
  RETURN_IF_ERROR(RejectUnknown(
      doc, "",
      {"policy", "objective", "slo_ms", "shadow_rate", "explore_budget", "stale_probe",
       "shadow_cap", "hedge", "late_hedge", "evidence_hedge", "smoothing", "weights", "circuit"}));
  PolicyConfig p;
  if (doc.contains("policy")) {
    const std::string allowed = AllKindNames();
    ASSIGN_OR_RETURN(std::string name, String(doc["policy"], "policy", allowed));
    std::optional<PolicyKind> kind;
    for (PolicyKind k : kAllKinds) {
      if (PolicyKindName(k) == name) kind = k;
    }
    if (!kind) {
      return Invalid(absl::StrCat("field 'policy' must be one of ", allowed, ", got '", name, "'"));
    }
    p.policy = *kind;
  }
  if (doc.contains("objective")) {
    ASSIGN_OR_RETURN(std::string name, String(doc["objective"], "objective", "mean|p95"));
    if (name == "mean") {
      p.objective = Objective::kMean;
    } else if (name == "p95") {
      p.objective = Objective::kP95;
    } else {
      return Invalid(absl::StrCat("field 'objective' must be one of mean|p95, got '", name, "'"));
    }
  }
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (doc.contains("slo_ms")) {
    ASSIGN_OR_RETURN(p.slo_ms, Number(doc["slo_ms"], "slo_ms", 0.0, kInf, false, ">= 0"));
  }
  if (doc.contains("shadow_rate")) {
    ASSIGN_OR_RETURN(p.shadow_rate,
                     Number(doc["shadow_rate"], "shadow_rate", 0.0, 1.0, false, "in [0, 1]"));
  }
  if (doc.contains("explore_budget")) {
    ASSIGN_OR_RETURN(p.explore_budget,
                     Number(doc["explore_budget"], "explore_budget", 0.0, 1.0, false, "in [0, 1]"));
  }
  if (doc.contains("shadow_cap")) {
    ASSIGN_OR_RETURN(p.shadow_cap,
                     Number(doc["shadow_cap"], "shadow_cap", 0.0, 1.0, false, "in [0, 1]"));
  }
  if (doc.contains("stale_probe")) {
    ASSIGN_OR_RETURN(std::string name, String(doc["stale_probe"], "stale_probe", "shadow|route"));
    if (name == "shadow") {
      p.stale_probe = StaleProbe::kShadow;
    } else if (name == "route") {
      p.stale_probe = StaleProbe::kRoute;
    } else {
      return Invalid(
          absl::StrCat("field 'stale_probe' must be one of shadow|route, got '", name, "'"));
    }
  }
  if (doc.contains("smoothing")) {
    ASSIGN_OR_RETURN(p.smoothing,
                     Number(doc["smoothing"], "smoothing", 0.0, 1.0, true, "in (0, 1]"));
  }
  if (doc.contains("hedge")) {
    ASSIGN_OR_RETURN(p.hedge, Boolean(doc["hedge"], "hedge"));
  }
  if (doc.contains("late_hedge")) {
    ASSIGN_OR_RETURN(p.late_hedge, Boolean(doc["late_hedge"], "late_hedge"));
  }
  if (doc.contains("evidence_hedge")) {
    ASSIGN_OR_RETURN(p.evidence_hedge, Boolean(doc["evidence_hedge"], "evidence_hedge"));
  }
  if (doc.contains("weights")) RETURN_IF_ERROR(ParseWeights(doc["weights"], p.weights));
  if (doc.contains("circuit")) RETURN_IF_ERROR(ParseCircuit(doc["circuit"], p.circuit));
  return p;
}

// YAML → JSON with the YAML 1.2 core schema for plain scalars: true/false,
// null/~/empty, integers, floats (incl. .inf/.nan, refused later as not
// finite); quoted scalars stay strings.
absl::StatusOr<Json> YamlToJson(const YAML::Node& node, const std::string& path) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const YAML::Node& item : node) {
        ASSIGN_OR_RETURN(Json j, YamlToJson(item, path));
        arr.push_back(std::move(j));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return Invalid(absl::StrCat("malformed YAML: non-scalar key under '", path, "'"));
        }
        std::string key = kv.first.Scalar();
        ASSIGN_OR_RETURN(Json j, YamlToJson(kv.second, path.empty() ? key : path + "." + key));
        obj[key] = std::move(j);
      }
      return obj;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return Json(s);  // quoted
  if (s == "true" || s == "True" || s == "TRUE") return Json(true);
  if (s == "false" || s == "False" || s == "FALSE") return Json(false);
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Json(nullptr);
  int64_t i = 0;
  auto [iend, iec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (iec == std::errc() && iend == s.data() + s.size()) return Json(i);
  if (s == ".inf" || s == "+.inf" || s == ".Inf") {
    return Json(std::numeric_limits<double>::infinity());
  }
  if (s == "-.inf" || s == "-.Inf") return Json(-std::numeric_limits<double>::infinity());
  if (s == ".nan" || s == ".NaN") return Json(std::numeric_limits<double>::quiet_NaN());
  // strtod also takes hex and "inf"; the core schema's float is decimal only.
  bool decimal = s.find_first_not_of("0123456789+-.eE") == std::string::npos;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (decimal && end == s.c_str() + s.size()) return Json(d);
  return Json(s);
}

}  // namespace

std::string_view PolicyKindName(PolicyKind k) {
  switch (k) {
    case PolicyKind::kPredictive:
      return "predictive";
    case PolicyKind::kEdgeOnly:
      return "edge_only";
    case PolicyKind::kCloudOnly:
      return "cloud_only";
    case PolicyKind::kRoundRobin:
      return "round_robin";
    case PolicyKind::kRandom:
      return "random";
    case PolicyKind::kSlo:
      return "slo";
    case PolicyKind::kWeighted:
      return "weighted";
  }
  STOA_CHECK(false, "not a PolicyKind");
}

absl::StatusOr<PolicyConfig> ParsePolicyJson(std::string_view json) {
  Json doc;
  try {
    doc = Json::parse(json.begin(), json.end());
  } catch (const Json::exception& e) {
    return Invalid(absl::StrCat("malformed JSON: ", e.what()));
  }
  return FromJson(doc);
}

absl::StatusOr<PolicyConfig> ParsePolicyYaml(std::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Invalid(absl::StrCat("malformed YAML: ", e.what()));
  }
  ASSIGN_OR_RETURN(Json doc, YamlToJson(root, ""));
  return FromJson(doc);
}

std::string PolicyToJson(const PolicyConfig& p) {
  Json doc = {
      {"policy", std::string(PolicyKindName(p.policy))},
      {"objective", std::string(ObjectiveName(p.objective))},
      {"slo_ms", p.slo_ms},
      {"shadow_rate", p.shadow_rate},
      {"explore_budget", p.explore_budget},
      {"stale_probe", p.stale_probe == StaleProbe::kShadow ? "shadow" : "route"},
      {"shadow_cap", p.shadow_cap},
      {"hedge", p.hedge},
      {"late_hedge", p.late_hedge},
      {"evidence_hedge", p.evidence_hedge},
      {"smoothing", p.smoothing},
      {"weights",
       {{"latency", p.weights.latency}, {"cost", p.weights.cost}, {"energy", p.weights.energy}}},
      {"circuit", {{"failures", p.circuit.failures}, {"open_ms", p.circuit.open_ms}}},
  };
  return common::DumpJson(doc);
}

absl::Status ParseTierValues(std::string_view text, std::string_view what,
                             std::array<double, kNumTiers>& values) {
  std::array<double, kNumTiers> out = values;
  TierSet seen;
  const std::string name(what);
  for (absl::string_view item :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ',', absl::SkipWhitespace())) {
    std::vector<std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    for (std::string& part : kv) part = std::string(absl::StripAsciiWhitespace(part));
    const TierSet tiers = kv.size() == 2 ? ParseTierOrClass(kv[0]) : TierSet();
    if (tiers.Empty()) {
      return Invalid(
          absl::StrCat(name, ": '", std::string(item),
                       "' is not TARGET=VALUE with TARGET a target name, edge or cloud"));
    }
    if (!seen.Intersect(tiers).Empty()) {
      return Invalid(absl::StrCat(name, ": tier ", kv[0], " given twice"));
    }
    for (Tier t : AllTiers()) {
      if (tiers.Contains(t)) seen.Add(t);
    }
    double v = 0;
    if (!absl::SimpleAtod(kv[1], &v) || !std::isfinite(v) || v < 0) {
      return Invalid(
          absl::StrCat(name, ": value of ", kv[0], " must be a number >= 0, got '", kv[1], "'"));
    }
    for (Tier t : AllTiers()) {
      if (tiers.Contains(t)) out[TierIndex(t)] = v;
    }
  }
  values = out;
  return absl::OkStatus();
}

}  // namespace stoa::scheduler
