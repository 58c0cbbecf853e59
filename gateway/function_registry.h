// The registry of functions: specs and artifacts, persisted in a data
// directory so that nothing a user registered is lost on restart or crash.
//
// Layout under data_dir:
//   functions/<name>/spec.json            the stored FunctionSpec (protobuf JSON)
//   functions/<name>/<sha256>.artifact    the artifact bytes
//   uploads/                              registration uploads and staged
//                                         artifacts (upload-*.part), same
//                                         file system, cleared by Open()
//   functions/<name>/policy.json          the function's policy override
//   policy.json                           the global placement policy
// Every file is written atomically (write, fsync, rename, fsync dir). The
// artifact is written before the spec; the spec's rename is the commit
// point, so a crash at any moment leaves either the old function or the new
// one. Open() ignores temporaries and specs whose artifact is missing.
// Artifacts stay on disk: the registry holds their path and size, never
// their bytes (an artifact may be gigabytes); a new one arrives as a staged
// file (common/artifact_file.h) that Put renames into place.
//
// Thread safety: all methods are thread-safe (reads take a shared lock).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/artifact_file.h"
#include "gateway/function_store.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

// The local FunctionStore (function_store.h); StoredFunction::artifact_path
// is functions/<name>/<sha256>.artifact.
class FunctionRegistry final : public FunctionStore {
 public:
  // Opens (creating if needed) the data directory and loads every function.
  static absl::StatusOr<std::unique_ptr<FunctionRegistry>> Open(const std::string& data_dir);

  // Stores a function. `spec` must carry name, runtime and the derived
  // signature; the registry sets sha256 and version (1, or previous + 1 when
  // replacing). ALREADY_EXISTS when the name exists and !replace, or when
  // the existing function belongs to another tenant (spec.tenant differs).
  // INVALID_ARGUMENT for a name outside [a-z0-9][a-z0-9_.-]{0,62} (names are
  // directory names). On error nothing on disk or in memory changes.
  // `artifact`: a staged file in upload_dir() (or on the same file system),
  // renamed into place; its sha256 becomes spec.sha256. On error the staged
  // file is left to its owner.
  absl::StatusOr<v1::FunctionSpec> Put(v1::FunctionSpec spec,
                                       const common::StagedArtifact& artifact,
                                       bool replace) override;
  // The same from bytes (staged in upload_dir() first).
  absl::StatusOr<v1::FunctionSpec> Put(v1::FunctionSpec spec, std::string_view artifact,
                                       bool replace) override;
  // NOT_FOUND naming the function.
  absl::StatusOr<StoredFunction> Get(const std::string& name) const override;
  std::vector<v1::FunctionSpec> List() const override;  // sorted by name
  absl::Status Delete(const std::string& name) override;

  // The persisted global policy document (JSON), nullopt if none was saved.
  std::optional<std::string> LoadPolicy() const override;
  absl::Status SavePolicy(const std::string& json) override;

  // A function's persisted policy override (JSON): nullopt if none.
  // Deleting the function deletes it; a new version keeps it.
  std::optional<std::string> LoadFunctionPolicy(const std::string& name) const override;
  // NOT_FOUND when the function does not exist.
  absl::Status SaveFunctionPolicy(const std::string& name, const std::string& json) override;
  // NOT_FOUND when the function does not exist; OK when it had no override.
  absl::Status DeleteFunctionPolicy(const std::string& name) override;

  // <data_dir>/uploads: where uploads and staged artifacts go.
  const std::string& upload_dir() const override { return upload_dir_; }

  // Checks a function name; INVALID_ARGUMENT naming the rule it breaks
  // (functions::ValidateFunctionName, the rule the executor applies too).
  static absl::Status ValidateName(const std::string& name);

 private:
  explicit FunctionRegistry(std::string data_dir);

  const std::string data_dir_;
  const std::string upload_dir_;
  // Serializes Put/Delete/SavePolicy (and their disk I/O) without blocking
  // readers; taken before mu_, which guards only the in-memory map.
  absl::Mutex write_mu_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, StoredFunction> functions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::gateway
