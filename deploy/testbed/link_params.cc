#include "deploy/testbed/link_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/json_text.h"
#include "nlohmann/json.hpp"

namespace stoa::deploy {
namespace {

using Json = nlohmann::json;

absl::Status CheckField(const std::string& name, double value, double max) {
  if (!std::isfinite(value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": must be a finite number >= 0, got ", value));
  }
  if (value > max) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": must be <= ", max, ", got ", value));
  }
  return absl::OkStatus();
}

// Generous upper bounds: a typo (delay in µs, rate in bit/s) is an error.
constexpr double kMaxDelayMs = 600000;
constexpr double kMaxRateMbit = 1000000;

}  // namespace

absl::StatusOr<LinkParams> PresetParams(std::string_view name) {
  if (name == "4g") return LinkParams{45, 5, 7.21, 0};
  if (name == "5g") return LinkParams{45, 5, 29.66, 0};
  if (name == "edge") return LinkParams{7.5, 2.5, 1000, 0};
  if (name == "lan" || name.empty()) return LinkParams{};
  return absl::InvalidArgumentError(absl::StrCat("preset: unknown preset '", std::string(name),
                                                 "' (expected 4g, 5g, edge or lan)"));
}

absl::Status ValidateLinkParams(const LinkParams& p) {
  if (auto s = CheckField("delay_ms", p.delay_ms, kMaxDelayMs); !s.ok()) return s;
  if (auto s = CheckField("jitter_ms", p.jitter_ms, kMaxDelayMs); !s.ok()) return s;
  if (auto s = CheckField("rate_mbit", p.rate_mbit, kMaxRateMbit); !s.ok()) return s;
  return CheckField("loss", p.loss, 1.0);
}

absl::StatusOr<LinkParams> ResolveLinkFlags(const LinkFlags& flags) {
  absl::StatusOr<LinkParams> params = PresetParams(flags.preset);
  if (!params.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", params.status().message()));
  }
  if (flags.delay_ms) params->delay_ms = *flags.delay_ms;
  if (flags.jitter_ms) params->jitter_ms = *flags.jitter_ms;
  if (flags.rate_mbit) params->rate_mbit = *flags.rate_mbit;
  if (flags.loss) params->loss = *flags.loss;
  if (absl::Status s = ValidateLinkParams(*params); !s.ok()) {
    // Field names map to flags: delay_ms -> --delay-ms.
    std::string message(s.message());
    std::string flag = message.substr(0, message.find(':'));
    for (char& c : flag) c = c == '_' ? '-' : c;
    return absl::InvalidArgumentError(absl::StrCat("--", flag, message.substr(message.find(':'))));
  }
  return params;
}

absl::StatusOr<LinkParams> ApplyLinkJson(const LinkParams& current, std::string_view body) {
  Json doc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("body: malformed JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("body: expected a JSON object");
  LinkParams next = current;
  for (const auto& [key, value] : doc.items()) {
    double* field = nullptr;
    if (key == "delay_ms") field = &next.delay_ms;
    if (key == "jitter_ms") field = &next.jitter_ms;
    if (key == "rate_mbit") field = &next.rate_mbit;
    if (key == "loss") field = &next.loss;
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": unknown field (expected delay_ms, jitter_ms, rate_mbit, loss)"));
    }
    if (!value.is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": expected a number, got ", common::DumpJson(value)));
    }
    *field = value.get<double>();
  }
  if (absl::Status s = ValidateLinkParams(next); !s.ok()) return s;
  return next;
}

std::string LinkParamsToJson(const LinkParams& p) {
  Json doc = {{"delay_ms", p.delay_ms},
              {"jitter_ms", p.jitter_ms},
              {"rate_mbit", p.rate_mbit},
              {"loss", p.loss}};
  return common::DumpJson(doc);
}

}  // namespace stoa::deploy
