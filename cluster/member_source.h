// Where a target's members come from, as one callback: "the members of
// target T are now [...]". Two sources feed it:
//
//   MemberWatcher  the executors announced in etcd under
//                  /stoa/v1/members/<target>/ (MemberAnnouncer), watched
//                  through a PrefixWatch: a start or a lease expiry reaches
//                  the callback within the watch latency (milliseconds).
//   DnsMembers     a `dns:///NAME:PORT` target (a Kubernetes headless
//                  Service): NAME re-resolved with getaddrinfo every
//                  Options::interval_ms; a failed resolution keeps the last
//                  set.
//
// The callback runs on the source's own thread, only when a target's set
// changed (sorted by address; an empty set when every member left).
//
// Thread safety: Start/Stop from one owner. Ownership: the EtcdClient must
// outlive a MemberWatcher.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cluster/etcd_client.h"
#include "cluster/keys.h"
#include "cluster/prefix_watch.h"

namespace stoa::cluster {

using MembersCallback =
    std::function<void(const std::string& target, const std::vector<Member>& members)>;

class MemberWatcher {
 public:
  MemberWatcher(EtcdClient& client, MembersCallback on_change);
  void Start() { watch_.Start(); }
  void Stop() { watch_.Stop(); }
  bool connected() const { return watch_.connected(); }

 private:
  void Apply(const KeySet& keys);

  const MembersCallback on_change_;
  std::map<std::string, std::vector<Member>> last_;  // by target; watch thread only
  PrefixWatch watch_;
};

// "dns:///NAME:PORT" → {NAME, PORT}; INVALID_ARGUMENT otherwise.
absl::StatusOr<std::pair<std::string, uint16_t>> ParseDnsTarget(const std::string& target);
bool IsDnsTarget(const std::string& target);

// NAME's addresses now, as HOST:PORT, sorted, deduplicated.
absl::StatusOr<std::vector<std::string>> ResolveAll(const std::string& name, uint16_t port);

class DnsMembers {
 public:
  struct Options {
    int interval_ms = 1000;
  };
  // `dns_target` must parse (ParseDnsTarget); members are reported under
  // `target`.
  DnsMembers(std::string target, std::string dns_target, Options options,
             MembersCallback on_change);
  ~DnsMembers();
  void Start();
  void Stop();

 private:
  void Run();

  const std::string target_;
  const std::string dns_target_;
  const Options options_;
  const MembersCallback on_change_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace stoa::cluster
