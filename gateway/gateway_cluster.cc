#include "gateway/gateway_cluster.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "gateway/etcd_function_store.h"
#include "gateway/function_registry.h"

namespace stoa::gateway {

absl::StatusOr<GatewayCluster> StartCluster(const GatewayFlags& flags) {
  GatewayCluster cluster;
  if (!flags.registry.empty()) {
    auto client = cluster::EtcdClient::Connect(flags.registry);
    if (!client.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--registry: ", client.status().message()));
    }
    cluster.etcd = *std::move(client);
  }
  std::vector<cluster::TargetMembership::Target> targets;
  for (const TargetSpec& t : flags.resolved_targets) {
    if (t.announced && cluster.etcd == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target ", t.info.name,
                       " has no address: give HOST:PORT, or --registry etcd://HOST:PORT so "
                       "executors announced with --target ",
                       t.info.name, " serve it"));
    }
    if (t.in_process || !cluster::NeedsMembership(t.addresses, cluster.etcd != nullptr)) continue;
    targets.push_back({.name = t.info.name, .entries = t.addresses});
  }
  if (targets.empty()) return cluster;
  auto membership = cluster::TargetMembership::Start(
      targets, cluster.etcd.get(), flags.grpc,
      cluster::TargetMembership::Options{.dns_interval_ms = flags.dns_interval_ms});
  if (!membership.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target/--cloud: ", membership.status().message()));
  }
  cluster.membership = *std::move(membership);
  return cluster;
}

absl::StatusOr<std::unique_ptr<FunctionStore>> OpenFunctionStore(const GatewayFlags& flags,
                                                                 GatewayCluster& cluster) {
  if (cluster.etcd == nullptr) {
    if (!flags.artifact_store.empty()) {
      return absl::InvalidArgumentError("--artifact-store needs --registry etcd://HOST:PORT");
    }
    auto local = FunctionRegistry::Open(flags.data_dir);
    if (!local.ok()) return local.status();
    return std::unique_ptr<FunctionStore>(*std::move(local));
  }
  // The data directory still holds what is this gateway's own (audit log,
  // event queue).
  if (auto s = common::MakeDirs(flags.data_dir); !s.ok()) return s;
  auto shared = EtcdFunctionStore::Open(*cluster.etcd, flags.artifact_store);
  if (!shared.ok()) return shared.status();
  return std::unique_ptr<FunctionStore>(*std::move(shared));
}

}  // namespace stoa::gateway
