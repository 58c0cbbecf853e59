// The gateway's part in a cluster (docs/scaling.md): from --registry
// etcd://… an EtcdClient, and a TargetMembership over the targets that take
// members from outside the flags: with etcd every target except the
// in-process one (its fixed addresses plus the executors announced under
// /stoa/v1/members/<target>/), without etcd those with a dns:/// entry
// (re-resolved every --dns-interval-ms). Other targets are built as before
// (gateway_main's MakeExecutors). A target declared with no address
// (`--target NAME=TIER:DEVICE:`) needs --registry: INVALID_ARGUMENT
// otherwise. The function store follows --registry too (OpenFunctionStore).
//
// Ownership: declare the GatewayCluster before the Dispatcher; the
// membership stops in the destructor (the etcd client outlives it).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "cluster/etcd_client.h"
#include "cluster/target_membership.h"
#include "gateway/function_store.h"
#include "gateway/gateway_flags.h"

namespace stoa::gateway {

struct GatewayCluster {
  std::unique_ptr<cluster::EtcdClient> etcd;
  std::unique_ptr<cluster::TargetMembership> membership;  // null: no target needs one
};

// INVALID_ARGUMENT naming the flag for a bad --registry, --cloud or
// --target entry. Needs flags.resolved_targets.
absl::StatusOr<GatewayCluster> StartCluster(const GatewayFlags& flags);

// The function store: with etcd an EtcdFunctionStore over --artifact-store
// (INVALID_ARGUMENT when it is missing; --data-dir is still created, for
// the gateway's own files), else the FunctionRegistry of --data-dir.
absl::StatusOr<std::unique_ptr<FunctionStore>> OpenFunctionStore(const GatewayFlags& flags,
                                                                 GatewayCluster& cluster);

}  // namespace stoa::gateway
