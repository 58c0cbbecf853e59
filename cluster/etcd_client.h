// EtcdClient: the part of etcd's v3 gRPC API Stoa needs (KV Range, Put,
// DeleteRange, Txn; Lease Grant, Revoke, KeepAlive; Watch), over the
// messages of cluster/proto/etcd/rpc.proto.
//
// Endpoints: "etcd://HOST:PORT[,HOST:PORT…]" (ParseEtcdUrl). One gRPC
// channel spreads over all of them (pick_first: a dead endpoint fails over
// to the next).
//
// Errors: every unary call has Options::call_timeout_ms; an unreachable
// cluster is UNAVAILABLE (DEADLINE_EXCEEDED is reported as UNAVAILABLE too)
// with a message naming etcd and the endpoints, so callers can hand it to a
// user as a 503. A lost compare in a Txn is not an error (TxnResult).
//
// Thread safety: all methods may be called concurrently; the client must
// outlive every EtcdWatch and LeaseKeeper made from it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/etcd/rpc.grpc.pb.h"

namespace stoa::cluster {

// "etcd://h1:p1,h2:p2" → {"h1:p1", "h2:p2"}; INVALID_ARGUMENT naming the
// URL when the scheme is not etcd:// or an endpoint is not HOST:PORT.
absl::StatusOr<std::vector<std::string>> ParseEtcdUrl(const std::string& url);

// The end of the range of every key starting with `prefix` (etcd's
// "prefix + 1" convention).
std::string PrefixEnd(const std::string& prefix);

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store's revision when the range was read
};

// The outcome of a conditional write.
struct TxnResult {
  bool succeeded = false;  // the compare held and the write happened
  int64_t revision = 0;    // the store's revision after the transaction
};

class EtcdClient {
 public:
  struct Options {
    int call_timeout_ms = 2000;
  };

  // INVALID_ARGUMENT for a bad URL; connects lazily (never fails on an
  // unreachable etcd).
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Connect(const std::string& url,
                                                             Options options);
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Connect(const std::string& url) {
    return Connect(url, Options());
  }

  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Every key in [key, range_end) (range_end "" = just `key`).
  absl::StatusOr<RangeResult> Range(const std::string& key, const std::string& range_end = "");
  absl::StatusOr<RangeResult> RangePrefix(const std::string& prefix) {
    return Range(prefix, PrefixEnd(prefix));
  }
  // Returns the revision of the write.
  absl::StatusOr<int64_t> Put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Returns how many keys were deleted.
  absl::StatusOr<int64_t> Delete(const std::string& key, const std::string& range_end = "");

  // Writes `key` only if its mod_revision is `expected_mod_revision` (0:
  // only if the key does not exist). Compare-and-swap for versioning.
  absl::StatusOr<TxnResult> PutIfModRevision(const std::string& key, const std::string& value,
                                             int64_t expected_mod_revision);
  // Deletes `key` and every key under `also_prefix` ("" = none) only if
  // `key`'s mod_revision is `expected_mod_revision`.
  absl::StatusOr<TxnResult> DeleteIfModRevision(const std::string& key,
                                                int64_t expected_mod_revision,
                                                const std::string& also_prefix);
  // A raw transaction, for callers that need other shapes.
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& request);

  // A lease of `ttl_s` seconds; returns its id.
  absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_s);
  absl::Status LeaseRevoke(int64_t id);

  const std::string& endpoints() const { return endpoints_; }

  // For EtcdWatch and LeaseKeeper.
  etcdserverpb::Watch::Stub& watch_stub() { return *watch_; }
  etcdserverpb::Lease::Stub& lease_stub() { return *lease_; }
  // `status` of a call to etcd as a Stoa status (UNAVAILABLE naming etcd).
  absl::Status FromGrpc(const grpc::Status& status, const char* what) const;

 private:
  // Runs a conditional transaction: whether its compares held, and the revision.
  absl::StatusOr<TxnResult> Conditional(const etcdserverpb::TxnRequest& request);
  EtcdClient(std::string endpoints, std::shared_ptr<grpc::Channel> channel, Options options);
  void SetDeadline(grpc::ClientContext& context) const;

  const std::string endpoints_;
  const Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
};

}  // namespace stoa::cluster
