// The gateway's targets from its command line (or YAML config): each
// `--target NAME=TIER:DEVICE:ADDR[,ADDR…]` names one target — TIER edge or
// cloud, DEVICE cpu or cuda, and its executors: `local` (or `in-process`:
// the gateway's own in-process executor, alone), `unix:PATH` or
// `HOST:PORT` of a stoa-executor; several addresses form a pool.
//
// `NAME=TIER:DEVICE:` (no address) declares a target whose members are only
// those announced for NAME in etcd (`stoa-executor --announce … --target
// NAME`); it needs `--registry etcd://…` (gateway_cluster.h). With
// addresses and a registry, the target is served by the fixed addresses
// plus the announced members.
//
// `--edge` and `--cloud` stay as shorthands: `--edge in-process` is the
// target `edge=edge:cpu:local`, `--edge ADDR` is `edge=edge:cpu:ADDR`,
// `--cloud A[,B…]` is `cloud=cloud:cpu:A[,B…]`; `none` or empty: no such
// target. Without any --target the table is exactly the two shorthands'
// {edge, cloud} (index 0 and 1, an absent one kept without executor, as
// before targets existed); with --target the shorthands' targets that are
// present come first, then the --target ones in the order given.
//
// In YAML, `target:` takes a list; the config loader joins a list with
// commas, so one flag value may hold several specs: a comma-separated item
// that contains '=' starts a new target, any other item is one more
// address of the target before it.
//
// Plain functions; no state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/tier.h"

namespace stoa::gateway {

struct TargetSpec {
  scheduler::TargetInfo info;
  // Executor addresses: one, several (a pool), or none (a shorthand set to
  // none: the target exists without an executor).
  std::vector<std::string> addresses;
  bool in_process = false;  // `local`: the gateway's own executor
  bool announced = false;   // `NAME=TIER:DEVICE:`: members come only from etcd
};

// Parses one flag value (one or more specs, see above). INVALID_ARGUMENT
// naming the flag and the problem.
absl::StatusOr<std::vector<TargetSpec>> ParseTargetFlag(std::string_view value);

// All targets of a gateway from --edge, --cloud and every --target value.
// INVALID_ARGUMENT for a bad spec, a duplicate name (also against the
// shorthands' `edge`/`cloud`), more than one in-process target, or more
// than scheduler::kMaxTargets targets.
absl::StatusOr<std::vector<TargetSpec>> ResolveTargets(std::string_view edge,
                                                       std::string_view cloud,
                                                       const std::vector<std::string>& targets);

// The scheduler's table for `specs`.
absl::StatusOr<scheduler::TargetTable> TableOf(const std::vector<TargetSpec>& specs);

// What `?tier=` and `?target=` on an invocation force: nullopt when neither
// is given. `tier` is a target name or a tier (edge/cloud) with exactly one
// target; `target` a target name. INVALID_ARGUMENT naming the parameter for
// an unknown value, a tier with several targets, or the two disagreeing;
// `kind` names where they came from in those messages.
absl::StatusOr<std::optional<scheduler::Tier>> ForcedTarget(
    std::string_view tier, std::string_view target, std::string_view kind = "query parameter");

}  // namespace stoa::gateway
