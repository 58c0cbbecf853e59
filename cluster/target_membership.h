// TargetMembership: the gateway's side of membership, for every target
// whose members are not only fixed addresses. Each target gets a
// MemberSetExecutor fed by
//   - its fixed HOST:PORT entries,
//   - each of its dns:///NAME:PORT entries (DnsMembers),
//   - with an etcd client: the executors announced under
//     /stoa/v1/members/<target>/, through one MemberWatcher shared by all
//     targets (announced members join the fixed ones).
// Members announced for a target the gateway does not declare are logged
// once per target name and ignored.
//
// Executor(name) hands the dispatcher a handle to a target; Stop() stops the
// sources (call it before the process exits; the handles stay valid).
//
// Thread safety: Start/Stop from one owner; Executor and members may be
// called concurrently. Ownership: `etcd` (nullable) must outlive Stop().
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cluster/etcd_client.h"
#include "cluster/member_set_executor.h"
#include "cluster/member_source.h"

namespace stoa::cluster {

class TargetMembership {
 public:
  struct Options {
    int dns_interval_ms = 1000;
  };
  struct Target {
    std::string name;
    std::vector<std::string> entries;  // HOST:PORT, unix:PATH or dns:///NAME:PORT
  };
  // INVALID_ARGUMENT for a bad entry, naming its target.
  static absl::StatusOr<std::unique_ptr<TargetMembership>> Start(
      const std::vector<Target>& targets, EtcdClient* etcd,
      executors::GrpcExecutor::Options grpc_options, Options options);
  ~TargetMembership();

  // A handle to target `name`; null when it is not one of the targets.
  executors::ExecutorPtr Executor(const std::string& name) const;
  // Target `name`'s member set; null when it is not one of the targets.
  const MemberSetExecutor* members(const std::string& name) const;
  void Stop();

 private:
  TargetMembership() = default;
  // The watcher's callback (its thread only).
  void OnAnnounced(const std::string& target, const std::vector<Member>& members);

  std::map<std::string, std::shared_ptr<MemberSetExecutor>> sets_;  // fixed after Start
  std::set<std::string> ignored_;  // undeclared targets already logged; watch thread only
  std::vector<std::unique_ptr<DnsMembers>> dns_;
  std::unique_ptr<MemberWatcher> watcher_;
};

// True when a target with `entries` needs a TargetMembership: a dns:///
// entry, or an etcd registry (announced members may join any target).
bool NeedsMembership(const std::vector<std::string>& entries, bool have_etcd);

}  // namespace stoa::cluster
