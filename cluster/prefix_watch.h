// PrefixWatch: a live copy of every key under one etcd prefix. A thread
// lists the prefix, hands the whole set to `on_update`, then watches from
// the listed revision + 1 and hands the set again after every batch of
// events. When etcd goes away (the stream ends, a call fails) or the watch
// is cancelled (compaction), it retries with backoff (100 ms .. 1 s): list
// again, then watch from the new revision, so a gateway that lost etcd
// catches up on its return with no event missed.
//
// `on_update` runs on the watch thread, one call at a time, with the full
// current set (key → KeyValue); consumers diff it against what they applied.
// `connected()` is true between a successful list and the next failure.
//
// Thread safety: Start/Stop from one owner; connected() from any thread.
// Ownership: `client` must outlive the watch; the destructor stops it.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "cluster/etcd_client.h"

namespace stoa::cluster {

using KeySet = std::map<std::string, KeyValue>;

class PrefixWatch {
 public:
  using UpdateCallback = std::function<void(const KeySet& keys, int64_t revision)>;

  PrefixWatch(EtcdClient& client, std::string prefix, UpdateCallback on_update);
  ~PrefixWatch();
  PrefixWatch(const PrefixWatch&) = delete;
  PrefixWatch& operator=(const PrefixWatch&) = delete;

  void Start();
  void Stop();
  bool connected() const { return connected_.load(); }

 private:
  void Run();
  // Watches from `revision` + 1, updating `keys`; returns when the stream
  // ends or Stop() was called.
  void WatchFrom(KeySet& keys, int64_t revision);
  // Sleeps `ms` unless stopped first; false when stopped.
  bool SleepUnlessStopped(int ms);

  EtcdClient& client_;
  const std::string prefix_;
  const UpdateCallback on_update_;
  std::atomic<bool> connected_{false};
  std::thread thread_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace stoa::cluster
