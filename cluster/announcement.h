// Announcement: what `stoa-executor --announce etcd://… --target NAME
// [--advertise HOST:PORT]` sets up: an EtcdClient and a MemberAnnouncer
// for this executor. The executor's shutdown drains through it: Withdraw()
// first (gateways stop picking this member), then the gRPC server finishes
// its calls, then Stop() revokes the lease.
//
// Thread safety: one owner (the executor's main). Errors: INVALID_ARGUMENT
// for a bad URL, target or address (nothing started).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cluster/etcd_client.h"
#include "cluster/member_announcer.h"

namespace stoa::cluster {

struct AnnounceConfig {
  std::string etcd_url;  // etcd://HOST:PORT[,…]
  std::string target = "cloud";
  // HOST:PORT gateways dial; "" = the bound address, or for a wildcard
  // listener (0.0.0.0) the first non-loopback address of the host name.
  std::string advertise;
  std::string bound;  // the gRPC server's bound address
  std::string device;
  int capacity = 0;
  int ttl_s = 3;
};

class Announcement {
 public:
  static absl::StatusOr<std::unique_ptr<Announcement>> Start(const AnnounceConfig& config);
  ~Announcement();

  void Withdraw();
  void Stop();
  const Member& member() const { return announcer_->member(); }

 private:
  Announcement() = default;
  std::unique_ptr<EtcdClient> client_;
  std::unique_ptr<MemberAnnouncer> announcer_;
};

}  // namespace stoa::cluster
