// FunctionStore: where function specs, artifacts and policies are kept,
// behind one interface so the REST layer and FunctionLifecycle do not know
// which backend runs:
//
//   FunctionRegistry   (function_registry.h) a local data directory, the
//                      embedded default;
//   EtcdFunctionStore  (etcd_function_store.h) specs and policies in etcd,
//                      artifacts in a shared content-addressed directory
//                      (--registry etcd://… --artifact-store DIR), shared by
//                      every gateway of a cluster.
//
// Contract of each method: see FunctionRegistry, which defines it; a
// backend adds only its own failures (etcd unreachable: UNAVAILABLE naming
// etcd, which the REST layer answers 503).
//
// Remote changes: a shared backend learns of changes made by other
// gateways; it reports each to the listener set with SetChangeListener (on
// its own thread, one at a time), so the gateway's loaded functions and
// policies follow. A local backend never calls it.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/artifact_file.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

struct StoredFunction {
  v1::FunctionSpec spec;      // version, sha256 (the artifact's), signature filled in
  std::string artifact_path;  // where the artifact's bytes are
  uint64_t artifact_size = 0;
  // Only on a call the pipeline invoker hands the dispatcher: the stages
  // to run after this one in the same executor call (gateway/
  // pipeline_chain.h). Never stored; empty everywhere else.
  std::vector<StoredFunction> chain{};
  // The whole artifact in memory (small artifacts, tools, tests); a file
  // replaced since Get is NOT_FOUND.
  absl::StatusOr<std::string> ReadArtifact() const;
};

// A change another gateway made, as a shared backend saw it.
struct RemoteChange {
  enum Kind {
    kFunctionStored,   // registered or replaced; previous_sha256 "" when new
    kFunctionDeleted,  // previous_sha256: the version that went
    kFunctionPolicy,   // policy_json: the override, nullopt when cleared
    kGlobalPolicy,     // policy_json: the policy, nullopt when cleared
  } kind;
  std::string name;  // the function ("" for kGlobalPolicy)
  std::string previous_sha256;
  std::optional<std::string> policy_json;
};
using ChangeListener = std::function<void(const RemoteChange&)>;

class FunctionStore {
 public:
  virtual ~FunctionStore() = default;
  FunctionStore(const FunctionStore&) = delete;
  FunctionStore& operator=(const FunctionStore&) = delete;

  virtual absl::StatusOr<v1::FunctionSpec> Put(v1::FunctionSpec spec,
                                               const common::StagedArtifact& artifact,
                                               bool replace) = 0;
  virtual absl::StatusOr<v1::FunctionSpec> Put(v1::FunctionSpec spec, std::string_view artifact,
                                               bool replace) = 0;
  virtual absl::StatusOr<StoredFunction> Get(const std::string& name) const = 0;
  virtual std::vector<v1::FunctionSpec> List() const = 0;
  virtual absl::Status Delete(const std::string& name) = 0;

  virtual std::optional<std::string> LoadPolicy() const = 0;
  virtual absl::Status SavePolicy(const std::string& json) = 0;
  virtual std::optional<std::string> LoadFunctionPolicy(const std::string& name) const = 0;
  virtual absl::Status SaveFunctionPolicy(const std::string& name, const std::string& json) = 0;
  virtual absl::Status DeleteFunctionPolicy(const std::string& name) = 0;

  // Where uploads and staged artifacts go (on the store's file system).
  virtual const std::string& upload_dir() const = 0;

  virtual void SetChangeListener(ChangeListener listener) { (void)listener; }

 protected:
  FunctionStore() = default;
};

}  // namespace stoa::gateway
