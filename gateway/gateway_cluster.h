// The gateway's part in a cluster (docs/scaling.md): from --registry
// etcd://… an EtcdClient, and for the cloud tier a TargetMembership (the
// --cloud addresses, its dns:/// entries re-resolved every
// --dns-interval-ms, and with etcd the executors announced under
// /stoa/v1/members/cloud/). Without --registry and dns:/// entries both are
// null and the gateway builds the cloud tier as before. The function store
// follows --registry too (OpenFunctionStore).
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
  std::unique_ptr<cluster::TargetMembership> cloud;
};

// INVALID_ARGUMENT naming the flag for a bad --registry or --cloud entry.
absl::StatusOr<GatewayCluster> StartCluster(const GatewayFlags& flags);

// The function store: with etcd an EtcdFunctionStore over --artifact-store
// (INVALID_ARGUMENT when it is missing; --data-dir is still created, for
// the gateway's own files), else the FunctionRegistry of --data-dir.
absl::StatusOr<std::unique_ptr<FunctionStore>> OpenFunctionStore(const GatewayFlags& flags,
                                                                 GatewayCluster& cluster);

}  // namespace stoa::gateway
