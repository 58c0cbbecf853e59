// The JSON document of GET /v1/scheduler/state, rendered from a
// SchedulerSnapshot (scheduler/scheduler_snapshot.h):
//
//   {"policy":{…policy document…},
//    "tiers":{"edge":{"circuit":"closed"|"open"|"half_open",
//                     "consecutive_failures":n,"in_process":b,
//                     "link_rtt_ms":x|null,"tier":"edge"|"cloud",
//                     "device":"cpu"|"cuda"},"cloud":{…}},
//    (one entry per target, under its name: "edge", "cloud", or the names
//    given with --target; the same names key each function's entries)
//    "functions":{name:{
//      "policy_override":{…policy document…}|null,
//      "accuracy":{"comparisons":n,"correct":n,"ratio":x|null,"regret_ms":x},
//      "edge":{"observations":n,
//              "predicted_ms":x|null (the last decision's prediction),
//              "last_latency_ms":x|null,"recent_ms":[the last 8 latencies],
//              "prediction":{"mean_ms","p95_ms",
//                            "terms":{"net"|"queue"|"cold"|"exec":
//                                     {"mean_ms","p95_ms"}}}|null
//                (for a cold call of the last request size on an idle tier),
//              "model":{"rtt_ms","ms_per_kb","service_ms",
//                       "cold_window":n|null,"exec":[β0,β1,β2]},
//              "errors":{term:{"mean_abs_ms","last_ms","count"}},
//              "decisions":{reason:count (every placement reason)}},
//      "cloud":{…}}}}
//
// Values not known yet are null. Keys come out sorted (nlohmann's object
// order).
//
// Thread safety: a pure function.
#pragma once

#include <string>

#include "scheduler/scheduler_snapshot.h"

namespace stoa::gateway {

std::string SchedulerStateJson(const scheduler::SchedulerSnapshot& snapshot);

}  // namespace stoa::gateway
