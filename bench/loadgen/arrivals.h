// Arrival schedule of the simulated IoT fleet (open loop).
//
// Every device sends at `rate` requests/s for `duration_s` seconds, either
// at constant intervals (1/rate, each device starting at a random phase so
// the fleet does not fire in lockstep) or as a Poisson process
// (exponential inter-arrival times with mean 1/rate). The schedule is fixed
// before the run starts: requests are sent at these times whatever the
// server does, and latency is measured from them, so a slow server cannot
// slow the load down (no coordinated omission).
//
// Pure functions, deterministic for a given seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::bench {

enum class ArrivalProcess { kConstant, kPoisson };

// "constant" | "poisson"; anything else is INVALID_ARGUMENT naming it.
absl::StatusOr<ArrivalProcess> ParseArrivalProcess(const std::string& name);

struct ScheduledRequest {
  int device = 0;
  int64_t seq = 0;      // per device, from 0
  double offset_s = 0;  // scheduled send time since the start of the run
};

// The merged schedule of `devices` devices, sorted by offset_s. Offsets lie
// in [0, duration_s). INVALID_ARGUMENT for devices < 1, rate <= 0 or
// duration_s <= 0, or a schedule of more than 50 million requests.
absl::StatusOr<std::vector<ScheduledRequest>> BuildSchedule(int devices, double rate,
                                                            ArrivalProcess process,
                                                            double duration_s, uint64_t seed);

}  // namespace stoa::bench
