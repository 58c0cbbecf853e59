// EtcdFunctionStore: the FunctionStore (function_store.h) of a cluster of
// gateways, `stoa-gateway --registry etcd://… --artifact-store DIR`.
//
//   specs      /stoa/v1/registry/functions/<name>: the FunctionSpec as
//              protobuf JSON (cluster/keys.h). Create-if-absent and every
//              replacement are one Txn comparing the key's mod_revision
//              with the one read (0: absent), so two gateways registering
//              the same name at once cannot both win; the loser gets
//              ALREADY_EXISTS (create) or ABORTED (replace).
//   policies   /stoa/v1/registry/policies/<name>, /stoa/v1/registry/policy.
//   artifacts  DIR/sha256/<hex>, content-addressed on a volume every
//              gateway mounts; written (rename of the staged upload, from
//              DIR/uploads) before the spec that names them, never changed,
//              so a spec never names a missing artifact. Not collected yet.
//
// Reads come from a local copy kept by a PrefixWatch on
// /stoa/v1/registry/: a change another gateway makes reaches this one
// within the watch latency and is reported to the ChangeListener (replaced
// and deleted functions are forgotten by the executors, policies applied).
// While etcd is unreachable reads keep answering from the copy and every
// change fails UNAVAILABLE naming etcd (a 503); when etcd returns the watch
// lists again and catches up.
//
// Thread safety: all methods may be called concurrently. Ownership: the
// client must outlive the store.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "cluster/etcd_client.h"
#include "cluster/prefix_watch.h"
#include "gateway/function_store.h"

namespace stoa::gateway {

class EtcdFunctionStore final : public FunctionStore {
 public:
  // Creates DIR/sha256 and DIR/uploads, reads the registry once (an etcd
  // that is down is logged; the watch catches up) and starts the watch.
  static absl::StatusOr<std::unique_ptr<EtcdFunctionStore>> Open(cluster::EtcdClient& client,
                                                                 const std::string& store_dir);
  ~EtcdFunctionStore() override;

  absl::StatusOr<v1::FunctionSpec> Put(v1::FunctionSpec spec,
                                       const common::StagedArtifact& artifact,
                                       bool replace) override;
  absl::StatusOr<v1::FunctionSpec> Put(v1::FunctionSpec spec, std::string_view artifact,
                                       bool replace) override;
  absl::StatusOr<StoredFunction> Get(const std::string& name) const override;
  std::vector<v1::FunctionSpec> List() const override;
  absl::Status Delete(const std::string& name) override;

  std::optional<std::string> LoadPolicy() const override;
  absl::Status SavePolicy(const std::string& json) override;
  std::optional<std::string> LoadFunctionPolicy(const std::string& name) const override;
  absl::Status SaveFunctionPolicy(const std::string& name, const std::string& json) override;
  absl::Status DeleteFunctionPolicy(const std::string& name) override;

  const std::string& upload_dir() const override { return upload_dir_; }
  void SetChangeListener(ChangeListener listener) override;

  // DIR/sha256/<hex>.
  std::string ArtifactPath(const std::string& sha256) const;

 private:
  struct Entry {
    StoredFunction function;
    int64_t mod_revision = 0;
  };
  struct Text {
    std::string json;
    int64_t mod_revision = 0;
  };
  struct Snapshot {
    std::map<std::string, Entry> functions;
    std::map<std::string, Text> policies;
    std::optional<Text> global;
  };

  EtcdFunctionStore(cluster::EtcdClient& client, std::string store_dir);
  Snapshot Decode(const cluster::KeySet& keys) const;
  void Apply(const cluster::KeySet& keys);
  absl::Status StoreArtifact(const common::StagedArtifact& artifact) const;

  cluster::EtcdClient& client_;
  const std::string store_dir_;
  const std::string upload_dir_;

  mutable absl::Mutex mu_;
  Snapshot cache_ ABSL_GUARDED_BY(mu_);

  absl::Mutex listener_mu_;  // held while the listener runs; never with mu_
  ChangeListener listener_ ABSL_GUARDED_BY(listener_mu_);

  std::unique_ptr<cluster::PrefixWatch> watch_;
};

}  // namespace stoa::gateway
