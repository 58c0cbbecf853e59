// TargetMembership: the gateway's side of membership for one target (today
// "cloud", the tier of --cloud): a MemberSetExecutor fed by
//   - the fixed HOST:PORT entries of the --cloud list,
//   - each dns:///NAME:PORT entry of that list (DnsMembers),
//   - with an etcd client: the executors announced under
//     /stoa/v1/members/<target>/ (MemberWatcher).
// Executor() hands the dispatcher a handle to the target; Stop() stops the
// sources (call it before the process exits; the handle stays valid).
//
// Thread safety: Start/Stop from one owner. Ownership: `etcd` (nullable)
// must outlive Stop().
#pragma once

#include <memory>
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
  // INVALID_ARGUMENT for a bad entry in `entries`.
  static absl::StatusOr<std::unique_ptr<TargetMembership>> Start(
      const std::string& target, const std::vector<std::string>& entries, EtcdClient* etcd,
      executors::GrpcExecutor::Options grpc_options, Options options);
  ~TargetMembership();

  executors::ExecutorPtr Executor() const { return std::make_unique<SharedExecutor>(set_); }
  const MemberSetExecutor& members() const { return *set_; }
  void Stop();

 private:
  TargetMembership() = default;
  std::string target_;
  std::shared_ptr<MemberSetExecutor> set_;
  std::vector<std::unique_ptr<DnsMembers>> dns_;
  std::unique_ptr<MemberWatcher> watcher_;
};

// True when `entries` (the --cloud list) needs a TargetMembership: a
// dns:/// entry, or an etcd registry.
bool NeedsMembership(const std::vector<std::string>& entries, bool have_etcd);

}  // namespace stoa::cluster
