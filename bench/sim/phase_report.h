// Per-phase scoring of one simulated run: placement accuracy, regret and
// time-to-adapt after each change of conditions (stoa-sim's flip
// scenarios).
//
//   accuracy       share of the phase's decisions whose tier had the lowest
//                  actual warm latency for that request;
//   regret         mean warm latency of the chosen tiers over that of the
//                  fastest ones, in % of the latter;
//   time-to-adapt  from the phase's start to the first decision from which
//                  at most kAdaptSlack of the next kAdaptWindow decisions
//                  are wrong (placement follows the new conditions), in
//                  seconds and in requests; -1 when that never happens.
//
// Pure functions over plain values; no state.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace stoa::sim {

inline constexpr int kAdaptWindow = 20;
inline constexpr int kAdaptSlack = 1;

// One decision of a run.
struct Scored {
  double t_s = 0;
  bool correct = false;
  double chosen_ms = 0;  // actual warm latency of what answered
  double best_ms = 0;    // the fastest tier's actual warm latency
};

struct PhaseScore {
  std::string name;
  double start_s = 0;
  int requests = 0;
  double accuracy = 0;
  double regret_pct = 0;
  double adapt_s = -1;
  int adapt_requests = -1;
};

// `phases`: (start time, name), in order; empty means one phase "all".
std::vector<PhaseScore> ScorePhases(const std::vector<Scored>& run,
                                    const std::vector<std::pair<double, std::string>>& phases);

// The whole run as one phase (time-to-adapt: the worst phase's).
PhaseScore ScoreTotal(const std::vector<PhaseScore>& phases, const std::vector<Scored>& run);

}  // namespace stoa::sim
