#include "gateway/gateway_cluster.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
  std::vector<std::string> clouds = absl::StrSplit(flags.cloud, ',', absl::SkipWhitespace());
  if (clouds.size() == 1 && clouds[0] == "none") clouds.clear();
  if (!cluster::NeedsMembership(clouds, cluster.etcd != nullptr)) return cluster;
  auto membership = cluster::TargetMembership::Start(
      "cloud", clouds, cluster.etcd.get(), flags.grpc,
      cluster::TargetMembership::Options{.dns_interval_ms = flags.dns_interval_ms});
  if (!membership.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--cloud: ", membership.status().message()));
  }
  cluster.cloud = *std::move(membership);
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
