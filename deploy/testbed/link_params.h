// The parameters of an emulated network link, their presets, and their
// two textual forms: command-line flags and the control endpoint's JSON.
//
// All values apply to each direction separately (DESIGN.md § Binaries):
//   delay_ms   one-way propagation delay, mean of a normal distribution
//   jitter_ms  its standard deviation (0: constant delay)
//   rate_mbit  bandwidth in 10^6 bit/s (0: unlimited)
//   loss       fraction of chunks lost, in [0, 1] (see link_shaper.h for what
//              a loss means on a TCP proxy; 1 is a blackhole that stalls)
//
// Thread safety: plain values and pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stoa::deploy {

struct LinkParams {
  double delay_ms = 0;
  double jitter_ms = 0;
  double rate_mbit = 0;
  double loss = 0;

  bool operator==(const LinkParams&) const = default;
};

// "4g", "5g", "edge" or "lan" (Continuum's figures, one way):
//   4g   45 ± 5 ms, 7.21 Mbit/s     5g   45 ± 5 ms, 29.66 Mbit/s
//   edge 7.5 ± 2.5 ms, 1000 Mbit/s  lan  no delay, unlimited
// InvalidArgument naming the preset otherwise.
absl::StatusOr<LinkParams> PresetParams(std::string_view name);

// OK when every field is finite, non-negative and loss <= 1; otherwise
// InvalidArgument naming the first bad field.
absl::Status ValidateLinkParams(const LinkParams& params);

// The link flags of stoa-linkem: a preset (empty: "lan") and overrides.
struct LinkFlags {
  std::string preset;
  std::optional<double> delay_ms;
  std::optional<double> jitter_ms;
  std::optional<double> rate_mbit;
  std::optional<double> loss;
};

// The preset with the overrides applied, validated (errors name the flag).
absl::StatusOr<LinkParams> ResolveLinkFlags(const LinkFlags& flags);

// Applies a PUT /link body to `current`: a JSON object with any of
// "delay_ms", "jitter_ms", "rate_mbit", "loss" (numbers); absent fields keep
// their value. InvalidArgument naming the field for an unknown field, a
// non-number or an out-of-range value, or for a body that is not a JSON object.
absl::StatusOr<LinkParams> ApplyLinkJson(const LinkParams& current, std::string_view body);

// {"delay_ms":..,"jitter_ms":..,"rate_mbit":..,"loss":..}
std::string LinkParamsToJson(const LinkParams& params);

}  // namespace stoa::deploy
