#include "gateway/etcd_function_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/keys.h"
#include "common/file_util.h"
#include "common/http_status.h"
#include "gateway/function_registry.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {
namespace {

absl::StatusOr<std::string> SpecToJson(const v1::FunctionSpec& spec) {
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(spec, &json);
  if (!status.ok()) return absl::InternalError(status.ToString());
  return json;
}

absl::StatusOr<v1::FunctionSpec> SpecFromJson(const std::string& json) {
  v1::FunctionSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) return absl::DataLossError(status.ToString());
  return spec;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

absl::Status NotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("function '", common::EchoLimited(name), "' not found"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdFunctionStore>> EtcdFunctionStore::Open(
    cluster::EtcdClient& client, const std::string& store_dir) {
  if (store_dir.empty()) {
    return absl::InvalidArgumentError(
        "--registry etcd:// needs --artifact-store DIR (a directory every gateway shares)");
  }
  std::unique_ptr<EtcdFunctionStore> store(new EtcdFunctionStore(client, store_dir));
  if (auto s = common::MakeDirs(store_dir + "/sha256"); !s.ok()) return s;
  if (auto s = common::MakeDirs(store->upload_dir_); !s.ok()) return s;
  auto listed = client.RangePrefix(std::string(cluster::kRegistryPrefix));
  if (listed.ok()) {
    cluster::KeySet keys;
    for (cluster::KeyValue& kv : listed->kvs) keys.emplace(kv.key, std::move(kv));
    absl::MutexLock lock(&store->mu_);
    store->cache_ = store->Decode(keys);
  } else {
    spdlog::warn("registry: {}; serving nothing until etcd answers",
                 std::string(listed.status().message()));
  }
  store->watch_ = std::make_unique<cluster::PrefixWatch>(
      client, std::string(cluster::kRegistryPrefix),
      [s = store.get()](const cluster::KeySet& keys, int64_t) { s->Apply(keys); });
  store->watch_->Start();
  return store;
}

EtcdFunctionStore::EtcdFunctionStore(cluster::EtcdClient& client, std::string store_dir)
    : client_(client), store_dir_(std::move(store_dir)), upload_dir_(store_dir_ + "/uploads") {}

EtcdFunctionStore::~EtcdFunctionStore() {
  if (watch_) watch_->Stop();
}

std::string EtcdFunctionStore::ArtifactPath(const std::string& sha256) const {
  return absl::StrCat(store_dir_, "/sha256/", sha256);
}

EtcdFunctionStore::Snapshot EtcdFunctionStore::Decode(const cluster::KeySet& keys) const {
  Snapshot out;
  for (const auto& [key, kv] : keys) {
    auto parsed = cluster::ParseRegistryKey(key);
    if (!parsed) continue;
    switch (parsed->kind) {
      case cluster::RegistryKey::kFunction: {
        auto spec = SpecFromJson(kv.value);
        if (!spec.ok() || spec->name() != parsed->name) {
          spdlog::error("registry: ignoring {}: not a FunctionSpec of that name", key);
          continue;
        }
        const std::string path = ArtifactPath(spec->sha256());
        out.functions[parsed->name] =
            Entry{StoredFunction{*std::move(spec), path, FileSize(path)}, kv.mod_revision};
        break;
      }
      case cluster::RegistryKey::kFunctionPolicy:
        out.policies[parsed->name] = Text{kv.value, kv.mod_revision};
        break;
      case cluster::RegistryKey::kGlobalPolicy:
        out.global = Text{kv.value, kv.mod_revision};
        break;
    }
  }
  return out;
}

void EtcdFunctionStore::Apply(const cluster::KeySet& keys) {
  Snapshot next = Decode(keys);
  std::vector<RemoteChange> changes;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, entry] : next.functions) {
      auto old = cache_.functions.find(name);
      if (old == cache_.functions.end()) {
        changes.push_back({RemoteChange::kFunctionStored, name, "", std::nullopt});
      } else if (old->second.mod_revision != entry.mod_revision) {
        changes.push_back({RemoteChange::kFunctionStored, name, old->second.function.spec.sha256(),
                           std::nullopt});
      }
    }
    for (const auto& [name, entry] : cache_.functions) {
      if (!next.functions.contains(name)) {
        changes.push_back(
            {RemoteChange::kFunctionDeleted, name, entry.function.spec.sha256(), std::nullopt});
      }
    }
    for (const auto& [name, text] : next.policies) {
      auto old = cache_.policies.find(name);
      if (old == cache_.policies.end() || old->second.mod_revision != text.mod_revision) {
        changes.push_back({RemoteChange::kFunctionPolicy, name, "", text.json});
      }
    }
    for (const auto& [name, text] : cache_.policies) {
      if (!next.policies.contains(name) && next.functions.contains(name)) {
        changes.push_back({RemoteChange::kFunctionPolicy, name, "", std::nullopt});
      }
    }
    const int64_t old_global = cache_.global ? cache_.global->mod_revision : 0;
    const int64_t new_global = next.global ? next.global->mod_revision : 0;
    if (old_global != new_global) {
      changes.push_back(
          {RemoteChange::kGlobalPolicy, "", "",
           next.global ? std::optional<std::string>(next.global->json) : std::nullopt});
    }
    cache_ = std::move(next);
  }
  absl::MutexLock lock(&listener_mu_);
  for (const RemoteChange& change : changes) {
    if (listener_) listener_(change);
  }
}

void EtcdFunctionStore::SetChangeListener(ChangeListener listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

absl::Status EtcdFunctionStore::StoreArtifact(const common::StagedArtifact& artifact) const {
  const std::string path = ArtifactPath(artifact.sha256);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return absl::OkStatus();  // content-addressed: same bytes
  if (::rename(artifact.file->path().c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot move ", artifact.file->path(), " to ", path,
                                            ": ", std::strerror(errno)));
  }
  artifact.file->Release();
  return common::SyncDir(store_dir_ + "/sha256");
}

absl::StatusOr<v1::FunctionSpec> EtcdFunctionStore::Put(v1::FunctionSpec spec,
                                                        std::string_view artifact, bool replace) {
  if (auto s = FunctionRegistry::ValidateName(spec.name()); !s.ok()) return s;
  auto staged = common::StageBytes(artifact, upload_dir_);
  if (!staged.ok()) return staged.status();
  return Put(std::move(spec), *staged, replace);
}

absl::StatusOr<v1::FunctionSpec> EtcdFunctionStore::Put(v1::FunctionSpec spec,
                                                        const common::StagedArtifact& artifact,
                                                        bool replace) {
  if (auto s = FunctionRegistry::ValidateName(spec.name()); !s.ok()) return s;
  const std::string name = spec.name();
  const std::string key = cluster::FunctionKey(name);
  auto current = client_.Range(key);
  if (!current.ok()) return current.status();
  std::optional<v1::FunctionSpec> previous;
  int64_t previous_mod = 0;
  if (!current->kvs.empty()) {
    auto parsed = SpecFromJson(current->kvs[0].value);
    if (parsed.ok()) previous = *std::move(parsed);
    previous_mod = current->kvs[0].mod_revision;
  }
  if (previous && !replace) {
    return absl::AlreadyExistsError(absl::StrCat("function '", name, "' already exists"));
  }
  if (previous && previous->tenant() != spec.tenant()) {
    return absl::AlreadyExistsError(
        absl::StrCat("function name '", name,
                     "' is taken by another tenant (function names are shared by every tenant)"));
  }
  spec.set_sha256(artifact.sha256);
  spec.set_version(previous ? previous->version() + 1 : 1);
  auto json = SpecToJson(spec);
  if (!json.ok()) return json.status();
  if (auto s = StoreArtifact(artifact); !s.ok()) return s;
  auto committed = client_.PutIfModRevision(key, *json, previous_mod);
  if (!committed.ok()) return committed.status();
  if (!committed->succeeded) {
    if (previous_mod == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("function '", name, "' already exists (registered by another gateway)"));
    }
    return absl::AbortedError(absl::StrCat("function '", name,
                                           "' was changed by another gateway at the same time; "
                                           "retry"));
  }
  absl::MutexLock lock(&mu_);
  const std::string path = ArtifactPath(spec.sha256());
  // The watch may already have applied this write, or a later one.
  auto& entry = cache_.functions[name];
  if (entry.mod_revision < committed->revision) {
    entry = Entry{StoredFunction{spec, path, FileSize(path)}, committed->revision};
  }
  return spec;
}

absl::StatusOr<StoredFunction> EtcdFunctionStore::Get(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = cache_.functions.find(name);
  if (it == cache_.functions.end()) return NotFound(name);
  return it->second.function;
}

std::vector<v1::FunctionSpec> EtcdFunctionStore::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<v1::FunctionSpec> specs;
  for (const auto& [name, entry] : cache_.functions) specs.push_back(entry.function.spec);
  return specs;
}

absl::Status EtcdFunctionStore::Delete(const std::string& name) {
  const std::string key = cluster::FunctionKey(name);
  auto current = client_.Range(key);
  if (!current.ok()) return current.status();
  if (current->kvs.empty()) return NotFound(name);
  etcdserverpb::TxnRequest txn;
  auto* compare = txn.add_compare();
  compare->set_key(key);
  compare->set_target(etcdserverpb::Compare::MOD);
  compare->set_mod_revision(current->kvs[0].mod_revision);
  txn.add_success()->mutable_request_delete_range()->set_key(key);
  txn.add_success()->mutable_request_delete_range()->set_key(cluster::FunctionPolicyKey(name));
  auto done = client_.Txn(txn);
  if (!done.ok()) return done.status();
  if (!done->succeeded()) {
    return absl::AbortedError(
        absl::StrCat("function '", name, "' was changed by another gateway meanwhile; retry"));
  }
  absl::MutexLock lock(&mu_);
  cache_.functions.erase(name);
  cache_.policies.erase(name);
  return absl::OkStatus();
}

std::optional<std::string> EtcdFunctionStore::LoadPolicy() const {
  absl::ReaderMutexLock lock(&mu_);
  if (!cache_.global) return std::nullopt;
  return cache_.global->json;
}

absl::Status EtcdFunctionStore::SavePolicy(const std::string& json) {
  auto revision = client_.Put(std::string(cluster::kGlobalPolicyKey), json);
  if (!revision.ok()) return revision.status();
  absl::MutexLock lock(&mu_);
  cache_.global = Text{json, *revision};
  return absl::OkStatus();
}

std::optional<std::string> EtcdFunctionStore::LoadFunctionPolicy(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = cache_.policies.find(name);
  if (it == cache_.policies.end()) return std::nullopt;
  return it->second.json;
}

absl::Status EtcdFunctionStore::SaveFunctionPolicy(const std::string& name,
                                                   const std::string& json) {
  if (auto fn = Get(name); !fn.ok()) return fn.status();
  auto revision = client_.Put(cluster::FunctionPolicyKey(name), json);
  if (!revision.ok()) return revision.status();
  absl::MutexLock lock(&mu_);
  cache_.policies[name] = Text{json, *revision};
  return absl::OkStatus();
}

absl::Status EtcdFunctionStore::DeleteFunctionPolicy(const std::string& name) {
  if (auto fn = Get(name); !fn.ok()) return fn.status();
  auto deleted = client_.Delete(cluster::FunctionPolicyKey(name));
  if (!deleted.ok()) return deleted.status();
  absl::MutexLock lock(&mu_);
  cache_.policies.erase(name);
  return absl::OkStatus();
}

}  // namespace stoa::gateway
