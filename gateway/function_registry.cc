#include "gateway/function_registry.h"

#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/http_status.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "common/upload_spool.h"
#include "functions/spec_rules.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {
namespace {

namespace fs = std::filesystem;

constexpr char kSpecFile[] = "spec.json";
constexpr char kArtifactSuffix[] = ".artifact";

std::string FunctionsDir(const std::string& data_dir) {
  return (fs::path(data_dir) / "functions").string();
}

std::string ArtifactFile(const std::string& sha256) { return sha256 + kArtifactSuffix; }

bool IsTempFile(const std::string& filename) { return filename.find(".tmp.") != std::string::npos; }

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

absl::StatusOr<std::string> SpecToJson(const v1::FunctionSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(spec, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot serialize spec of '", spec.name(), "': ", status.ToString()));
  }
  return json;
}

absl::StatusOr<v1::FunctionSpec> SpecFromJson(const std::string& json, const std::string& path) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // written by a newer version
  v1::FunctionSpec spec;
  auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return absl::DataLossError(absl::StrCat("cannot parse ", path, ": ", status.ToString()));
  }
  return spec;
}

// The entries of a directory, read fully before the caller changes it.
absl::StatusOr<std::vector<fs::directory_entry>> ListDir(const fs::path& dir) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) entries.push_back(*it);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  return entries;
}

void RemoveQuietly(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) spdlog::warn("registry: cannot remove {}: {}", path.string(), ec.message());
}

// Loads one functions/<name>/ directory, cleaning up what a crash may have
// left behind: temporaries, and artifacts the committed spec does not name.
absl::StatusOr<StoredFunction> LoadFunctionDir(const fs::path& dir) {
  const std::string name = dir.filename().string();
  RETURN_IF_ERROR(FunctionRegistry::ValidateName(name));
  ASSIGN_OR_RETURN(std::vector<fs::directory_entry> entries, ListDir(dir));
  for (const fs::directory_entry& entry : entries) {
    if (IsTempFile(entry.path().filename().string())) RemoveQuietly(entry.path());
  }

  const fs::path spec_path = dir / kSpecFile;
  ASSIGN_OR_RETURN(std::string json, common::ReadFile(spec_path.string()));
  ASSIGN_OR_RETURN(v1::FunctionSpec spec, SpecFromJson(json, spec_path.string()));
  if (spec.name() != name) {
    return absl::DataLossError(
        absl::StrCat(spec_path.string(), " names function '", spec.name(), "'"));
  }
  const fs::path artifact_path = dir / ArtifactFile(spec.sha256());
  uint64_t size = 0;
  ASSIGN_OR_RETURN(std::string sha256, common::Sha256OfFile(artifact_path.string(), &size));
  if (sha256 != spec.sha256()) {
    return absl::DataLossError(
        absl::StrCat(artifact_path.string(), " does not match its sha256 ", spec.sha256()));
  }
  // Artifacts of a replaced version whose removal a crash interrupted.
  for (const fs::directory_entry& entry : entries) {
    const std::string filename = entry.path().filename().string();
    if (EndsWith(filename, kArtifactSuffix) && entry.path() != artifact_path) {
      RemoveQuietly(entry.path());
    }
  }
  return StoredFunction{std::move(spec), artifact_path.string(), size};
}

// Renames a staged file to `to` and fsyncs the directory.
absl::Status MoveInto(const std::string& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot move ", from, " to ", to.string(), ": ", std::strerror(errno)));
  }
  return common::SyncDir(to.parent_path().string());
}

}  // namespace

absl::StatusOr<std::string> StoredFunction::ReadArtifact() const {
  return common::ReadFile(artifact_path);
}

FunctionRegistry::FunctionRegistry(std::string data_dir)
    : data_dir_(std::move(data_dir)), upload_dir_((fs::path(data_dir_) / "uploads").string()) {}

absl::Status FunctionRegistry::ValidateName(const std::string& name) {
  return functions::ValidateFunctionName(name);
}

absl::StatusOr<std::unique_ptr<FunctionRegistry>> FunctionRegistry::Open(
    const std::string& data_dir) {
  if (data_dir.empty()) return absl::InvalidArgumentError("registry data directory is empty");
  const std::string functions_dir = FunctionsDir(data_dir);
  RETURN_IF_ERROR(common::MakeDirs(functions_dir));
  std::unique_ptr<FunctionRegistry> registry(new FunctionRegistry(data_dir));
  RETURN_IF_ERROR(common::MakeDirs(registry->upload_dir_));
  if (size_t stale = common::RemoveStaleUploads(registry->upload_dir_); stale > 0) {
    spdlog::info("registry: removed {} unfinished upload(s) from {}", stale, registry->upload_dir_);
  }

  ASSIGN_OR_RETURN(std::vector<fs::directory_entry> top, ListDir(data_dir));
  for (const fs::directory_entry& entry : top) {
    if (entry.path().filename().string().starts_with("policy.json.tmp.")) {
      RemoveQuietly(entry.path());
    }
  }
  ASSIGN_OR_RETURN(std::vector<fs::directory_entry> entries, ListDir(functions_dir));

  absl::MutexLock lock(&registry->mu_);
  for (const fs::directory_entry& entry : entries) {
    const fs::path& path = entry.path();
    std::error_code ec;
    if (IsTempFile(path.filename().string())) {
      RemoveQuietly(path);
      continue;
    }
    if (!entry.is_directory(ec)) {
      spdlog::warn("registry: ignoring {}: not a directory", path.string());
      continue;
    }
    if (!fs::exists(path / kSpecFile, ec) && !ec) {
      // A Put that crashed before its commit point, or a Delete that crashed
      // after it: either way the function does not exist.
      spdlog::warn("registry: removing {}: no committed spec", path.string());
      fs::remove_all(path, ec);
      continue;
    }
    absl::StatusOr<StoredFunction> loaded = LoadFunctionDir(path);
    if (!loaded.ok()) {
      spdlog::error("registry: skipping {}: {}", path.string(),
                    std::string(loaded.status().message()));
      continue;
    }
    std::string name = loaded->spec.name();
    registry->functions_.emplace(std::move(name), *std::move(loaded));
  }
  spdlog::info("registry: loaded {} function(s) from {}", registry->functions_.size(), data_dir);
  return registry;
}

absl::StatusOr<v1::FunctionSpec> FunctionRegistry::Put(v1::FunctionSpec spec,
                                                       std::string_view artifact, bool replace) {
  RETURN_IF_ERROR(ValidateName(spec.name()));
  ASSIGN_OR_RETURN(common::StagedArtifact staged, common::StageBytes(artifact, upload_dir_));
  return Put(std::move(spec), staged, replace);
}

absl::StatusOr<v1::FunctionSpec> FunctionRegistry::Put(v1::FunctionSpec spec,
                                                       const common::StagedArtifact& artifact,
                                                       bool replace) {
  RETURN_IF_ERROR(ValidateName(spec.name()));
  const std::string name = spec.name();
  absl::MutexLock write_lock(&write_mu_);

  std::optional<v1::FunctionSpec> previous;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = functions_.find(name);
    if (it != functions_.end()) previous = it->second.spec;
  }
  if (previous && !replace) {
    return absl::AlreadyExistsError(absl::StrCat("function '", name, "' already exists"));
  }
  // A replacement keeps the owner: names are shared by every tenant, and
  // one tenant never takes over another's function (docs/security.md).
  if (previous && previous->tenant() != spec.tenant()) {
    return absl::AlreadyExistsError(
        absl::StrCat("function name '", name,
                     "' is taken by another tenant (function names are shared by "
                     "every tenant)"));
  }
  spec.set_sha256(artifact.sha256);
  spec.set_version(previous ? previous->version() + 1 : 1);
  ASSIGN_OR_RETURN(std::string json, SpecToJson(spec));

  const fs::path dir = fs::path(FunctionsDir(data_dir_)) / name;
  std::error_code ec;
  const bool dir_existed = fs::is_directory(dir, ec);
  RETURN_IF_ERROR(common::MakeDirs(dir.string()));
  // Undoes whatever this Put created, so a failure leaves the disk as before.
  auto roll_back = [&](const fs::path& new_artifact) {
    if (!new_artifact.empty()) RemoveQuietly(new_artifact);
    if (!dir_existed) {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  };
  if (!dir_existed) {
    absl::Status synced = common::SyncDir(FunctionsDir(data_dir_));
    if (!synced.ok()) {
      roll_back({});
      return synced;
    }
  }

  const fs::path artifact_path = dir / ArtifactFile(spec.sha256());
  const bool same_artifact =
      previous && previous->sha256() == spec.sha256() && fs::exists(artifact_path, ec);
  if (!same_artifact) {
    // The staged file was fsynced when written; the rename and the
    // directory's fsync make it the registry's.
    absl::Status moved = MoveInto(artifact.file->path(), artifact_path);
    if (!moved.ok()) {
      roll_back({});
      return moved;
    }
    artifact.file->Release();
  }
  // The commit point: after this rename the new version is the function.
  absl::Status committed = common::WriteFileAtomically((dir / kSpecFile).string(), json);
  if (!committed.ok()) {
    roll_back(same_artifact ? fs::path() : artifact_path);
    return committed;
  }
  if (previous && previous->sha256() != spec.sha256()) {
    RemoveQuietly(dir / ArtifactFile(previous->sha256()));
  }

  absl::MutexLock lock(&mu_);
  functions_[name] = StoredFunction{spec, artifact_path.string(), artifact.file->size()};
  return spec;
}

absl::StatusOr<StoredFunction> FunctionRegistry::Get(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("function '", common::EchoLimited(name), "' not found"));
  }
  return it->second;
}

std::vector<v1::FunctionSpec> FunctionRegistry::List() const {
  std::vector<v1::FunctionSpec> specs;
  {
    absl::ReaderMutexLock lock(&mu_);
    specs.reserve(functions_.size());
    for (const auto& [name, stored] : functions_) specs.push_back(stored.spec);
  }
  std::sort(specs.begin(), specs.end(), [](const v1::FunctionSpec& a, const v1::FunctionSpec& b) {
    return a.name() < b.name();
  });
  return specs;
}

absl::Status FunctionRegistry::Delete(const std::string& name) {
  absl::MutexLock write_lock(&write_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!functions_.contains(name)) {
      return absl::NotFoundError(
          absl::StrCat("function '", common::EchoLimited(name), "' not found"));
    }
  }
  const fs::path dir = fs::path(FunctionsDir(data_dir_)) / name;
  const fs::path spec_path = dir / kSpecFile;
  // Removing the spec is the commit point; Open() discards a directory
  // without one, so a crash after it cannot resurrect the function.
  if (::unlink(spec_path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(
        absl::StrCat("cannot remove ", spec_path.string(), ": ", std::strerror(errno)));
  }
  {
    absl::MutexLock lock(&mu_);
    functions_.erase(name);
  }
  RETURN_IF_ERROR(common::SyncDir(dir.string()));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) spdlog::warn("registry: cannot remove {}: {}", dir.string(), ec.message());
  return common::SyncDir(FunctionsDir(data_dir_));
}

std::optional<std::string> FunctionRegistry::LoadPolicy() const {
  absl::StatusOr<std::string> json =
      common::ReadFile((fs::path(data_dir_) / "policy.json").string());
  if (!json.ok()) return std::nullopt;
  return *std::move(json);
}

absl::Status FunctionRegistry::SavePolicy(const std::string& json) {
  absl::MutexLock write_lock(&write_mu_);
  return common::WriteFileAtomically((fs::path(data_dir_) / "policy.json").string(), json);
}

std::optional<std::string> FunctionRegistry::LoadFunctionPolicy(const std::string& name) const {
  if (!ValidateName(name).ok()) return std::nullopt;
  absl::StatusOr<std::string> json =
      common::ReadFile((fs::path(FunctionsDir(data_dir_)) / name / "policy.json").string());
  if (!json.ok()) return std::nullopt;
  return *std::move(json);
}

absl::Status FunctionRegistry::SaveFunctionPolicy(const std::string& name,
                                                  const std::string& json) {
  absl::MutexLock write_lock(&write_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!functions_.contains(name)) {
      return absl::NotFoundError(
          absl::StrCat("function '", common::EchoLimited(name), "' not found"));
    }
  }
  return common::WriteFileAtomically(
      (fs::path(FunctionsDir(data_dir_)) / name / "policy.json").string(), json);
}

absl::Status FunctionRegistry::DeleteFunctionPolicy(const std::string& name) {
  absl::MutexLock write_lock(&write_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!functions_.contains(name)) {
      return absl::NotFoundError(
          absl::StrCat("function '", common::EchoLimited(name), "' not found"));
    }
  }
  const fs::path dir = fs::path(FunctionsDir(data_dir_)) / name;
  const fs::path path = dir / "policy.json";
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat("cannot remove ", path.string(), ": ", std::strerror(errno)));
  }
  return common::SyncDir(dir.string());
}

}  // namespace stoa::gateway
