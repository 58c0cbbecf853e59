// MemberAnnouncer: an executor's presence in etcd (stoa-executor
// --announce). It writes /stoa/v1/members/<target>/<address> under a lease
// of Options::ttl_s seconds and keeps the lease alive (a keep-alive every
// ttl/3) from its own thread. If etcd goes away the announcer retries; if
// the lease expired meanwhile (etcd says TTL 0) it grants a new one and
// writes the key again, so a gateway sees the executor come back.
//
// Withdraw() (the drain at shutdown) deletes the key, so gateways stop
// sending new work within their watch latency; Stop() revokes the lease
// (etcd deletes any key left under it) and stops the thread. Without them a
// killed executor disappears when its lease expires (at most ttl_s).
//
// Thread safety: Start, Withdraw and Stop from one owner. Ownership: the
// client must outlive the announcer.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "cluster/etcd_client.h"
#include "cluster/keys.h"

namespace stoa::cluster {

class MemberAnnouncer {
 public:
  struct Options {
    int ttl_s = 3;
  };

  MemberAnnouncer(EtcdClient& client, Member member, Options options);
  ~MemberAnnouncer();
  MemberAnnouncer(const MemberAnnouncer&) = delete;
  MemberAnnouncer& operator=(const MemberAnnouncer&) = delete;

  // Starts announcing (the first write happens on the thread, so an etcd
  // that is down at start does not stop the executor from serving).
  void Start();
  // Deletes the member key and stops re-announcing; the lease stays.
  absl::Status Withdraw();
  // Revokes the lease and stops the thread.
  void Stop();

  const Member& member() const { return member_; }

 private:
  void Run();
  // Grants a lease and writes the key; the lease id.
  absl::StatusOr<int64_t> Announce();
  // Keeps `lease` alive until the stream fails (false: retry) or etcd says
  // it expired (true: announce again), or Stop.
  bool KeepAlive(int64_t lease);
  bool SleepUnlessStopped(int ms);

  EtcdClient& client_;
  const Member member_;
  const Options options_;
  std::thread thread_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool withdrawn_ ABSL_GUARDED_BY(mu_) = false;
  int64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ClientContext* stream_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace stoa::cluster
