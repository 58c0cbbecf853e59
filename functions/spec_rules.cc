#include "functions/spec_rules.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/json_text.h"
#include "common/status_macros.h"

namespace stoa::functions {
namespace {

absl::Status Bad(std::string_view field, std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("spec field '", std::string(field), "' ", std::string(message)));
}

// `what` is "function" or "tenant".
absl::Status ValidateName(std::string_view what_view, std::string_view name_view) {
  const std::string what(what_view);
  const std::string name(name_view);
  const std::string rule = absl::StrCat(what, " names match [a-z0-9][a-z0-9_.-]{0,62}");
  if (name.empty())
    return absl::InvalidArgumentError(absl::StrCat("empty ", what, " name; ", rule));
  if (name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(what, " name '", name.substr(0, 16), "...' is ",
                                                   name.size(), " characters long; ", rule));
  }
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(name[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " name '", name, "' must start with [a-z0-9]; ", rule));
  }
  for (char c : name) {
    if (!lower_or_digit(c) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " name '", name, "' contains a character outside [a-z0-9_.-]; ", rule));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRange(std::string_view field, int64_t value, IntegerRange range) {
  if (value < range.lo || value > range.hi) return OutOfRange(field, range);
  return absl::OkStatus();
}

absl::Status ValidateTiers(const v1::FunctionSpec& spec) {
  std::set<std::string> seen;
  for (const std::string& tier : spec.tiers()) {
    std::string quoted;
    common::AppendJsonString(quoted, tier);
    if (tier != "edge" && tier != "cloud") {
      return Bad("tiers", absl::StrCat("may contain only \"edge\" and \"cloud\", got ", quoted));
    }
    if (!seen.insert(tier).second) return Bad("tiers", absl::StrCat("lists ", quoted, " twice"));
  }
  return absl::OkStatus();
}

absl::Status ValidateNumbers(const v1::FunctionSpec& spec, const common::RequestLimits& limits) {
  if (!std::isfinite(spec.slo_ms()) || spec.slo_ms() < 0) {
    return Bad("slo_ms", "must be a number >= 0");
  }
  // 0 is "not set" (no batching); the REST layer refuses an explicit 0.
  if (spec.batching().max_batch() != 0) {
    RETURN_IF_ERROR(CheckRange("batching.max_batch", spec.batching().max_batch(), kMaxBatchRange));
  }
  RETURN_IF_ERROR(
      CheckRange("batching.max_delay_us", spec.batching().max_delay_us(), kMaxDelayUsRange));
  RETURN_IF_ERROR(common::CheckTimeoutMs(spec.limits().timeout_ms(), limits.max_timeout_ms,
                                         "spec field 'limits.timeout_ms'"));
  RETURN_IF_ERROR(CheckRange("limits.memory_mb", spec.limits().memory_mb(), kMemoryMbRange));
  return CheckRange("limits.max_concurrency", spec.limits().max_concurrency(),
                    kMaxConcurrencyRange);
}

absl::Status ValidateContentType(const std::string& v) {
  if (v.empty()) return absl::OkStatus();
  const size_t slash = v.find('/');
  if (v.size() > 255 || slash == 0 || slash == std::string::npos || slash + 1 == v.size() ||
      std::any_of(v.begin(), v.end(), [](char ch) { return ch < 0x20 || ch == 0x7f; })) {
    return Bad("content_type", "must be a media type such as \"application/json\"");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status OutOfRange(std::string_view field, IntegerRange range) {
  return Bad(field, absl::StrCat("must be between ", range.lo, " and ", range.hi));
}

absl::Status ValidateFunctionName(std::string_view name) { return ValidateName("function", name); }

absl::Status ValidateTenantName(std::string_view tenant) { return ValidateName("tenant", tenant); }

absl::Status ValidateFunctionSpec(const v1::FunctionSpec& spec,
                                  const common::RequestLimits& limits) {
  RETURN_IF_ERROR(ValidateFunctionName(spec.name()));
  // "pipeline": a gateway-side composition (gateway/pipeline_spec.h); no
  // executor runtime loads one.
  if (spec.runtime() != "onnx" && spec.runtime() != "wasm" && spec.runtime() != "pipeline") {
    return Bad("runtime",
               absl::StrCat("must be onnx, wasm or pipeline, got '", spec.runtime(), "'"));
  }
  RETURN_IF_ERROR(ValidateTiers(spec));
  RETURN_IF_ERROR(ValidateNumbers(spec, limits));
  if (spec.description().size() > limits.max_description_bytes) {
    return Bad("description",
               absl::StrCat("is ", spec.description().size(), " bytes; the limit is ",
                            limits.max_description_bytes, " bytes (description length limit)"));
  }
  RETURN_IF_ERROR(ValidateContentType(spec.content_type()));
  if (!spec.tenant().empty()) RETURN_IF_ERROR(ValidateTenantName(spec.tenant()));
  return absl::OkStatus();
}

}  // namespace stoa::functions
