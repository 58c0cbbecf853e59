#include "bench/loadgen/arrivals.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"

namespace stoa::bench {

absl::StatusOr<ArrivalProcess> ParseArrivalProcess(const std::string& name) {
  if (name == "constant") return ArrivalProcess::kConstant;
  if (name == "poisson") return ArrivalProcess::kPoisson;
  return absl::InvalidArgumentError(
      absl::StrCat("--arrivals: expected constant or poisson, got '", name, "'"));
}

absl::StatusOr<std::vector<ScheduledRequest>> BuildSchedule(int devices, double rate,
                                                            ArrivalProcess process,
                                                            double duration_s, uint64_t seed) {
  if (devices < 1) return absl::InvalidArgumentError("--devices must be >= 1");
  if (!(rate > 0)) return absl::InvalidArgumentError("--rate must be > 0");
  if (!(duration_s > 0)) return absl::InvalidArgumentError("--duration must be > 0");
  const double expected = devices * rate * duration_s;
  if (expected > 5e7) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule too large: ", expected, " requests (limit 50 million)"));
  }
  std::mt19937_64 rng(seed);
  std::vector<ScheduledRequest> out;
  out.reserve(static_cast<size_t>(expected * 1.1) + 16);
  const double interval = 1.0 / rate;
  for (int d = 0; d < devices; ++d) {
    int64_t seq = 0;
    if (process == ArrivalProcess::kConstant) {
      std::uniform_real_distribution<double> phase(0.0, interval);
      for (double t = phase(rng); t < duration_s; t += interval) {
        out.push_back({d, seq++, t});
      }
    } else {
      std::exponential_distribution<double> gap(rate);
      for (double t = gap(rng); t < duration_s; t += gap(rng)) out.push_back({d, seq++, t});
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.offset_s < b.offset_s; });
  return out;
}

}  // namespace stoa::bench
