// ArtifactStore: the executor's view of the content-addressed artifact store
// (`stoa-executor --artifact-store DIR`), the same shared volume the
// gateways write with `--artifact-store` (docs/scaling.md § Artifact
// distribution). A gateway that has a store names an artifact by its store
// key instead of sending the bytes; the executor resolves the key here.
//
// A key is exactly "sha256/<64 lowercase hex>" (StoreKey); anything else
// (an absolute path, "..", another directory, upper case) is refused before
// the file system is touched. Resolve then requires, in order:
//   - the key's digest is the spec's sha256 (a gateway cannot point one
//     function at another's file),
//   - the file opens without following a symbolic link at its last
//     component (O_NOFOLLOW) and is a regular file,
//   - its canonical path lies under the store's canonical DIR (a linked
//     `sha256/` directory pointing elsewhere is refused),
//   - the sha256 of its bytes is the spec's.
// It returns the canonical path, for InProcessExecutor to load
// (LoadFunctionRequest::artifact_path).
//
// Errors: INVALID_ARGUMENT for a malformed key or a digest that differs from
// the spec's; NOT_FOUND for a missing file; PERMISSION_DENIED for a symbolic
// link or a path outside DIR; FAILED_PRECONDITION for a file that is not
// regular; DATA_LOSS when the bytes' sha256 differs (a corrupted file). Each
// message names the key. Nothing is changed on disk.
//
// Thread safety: immutable after Open; Resolve may be called concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace stoa::executors {

class ArtifactStore {
 public:
  // `dir` must be an existing directory; it is canonicalized once.
  // INVALID_ARGUMENT naming it otherwise.
  static absl::StatusOr<ArtifactStore> Open(const std::string& dir);

  // The canonical path of the artifact `key`, checked as above against
  // `expected_sha256` (64 lowercase hex characters).
  absl::StatusOr<std::string> Resolve(std::string_view key, std::string_view expected_sha256) const;

  const std::string& dir() const { return dir_; }

 private:
  explicit ArtifactStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;  // canonical, no trailing '/'
};

// "sha256/<hex>": the store key of an artifact with that digest.
std::string StoreKey(std::string_view sha256_hex);

// The key of `path` when it is the file of `sha256_hex` in the store `dir`
// (the gateway's side: EtcdFunctionStore keeps artifacts at
// DIR/sha256/<hex>); nullopt otherwise. Compares paths lexically after
// normalizing; touches no file.
std::optional<std::string> StoreKeyOf(const std::string& dir, const std::string& path,
                                      std::string_view sha256_hex);

// True for 64 lowercase hex characters.
bool IsSha256Hex(std::string_view s);

}  // namespace stoa::executors
