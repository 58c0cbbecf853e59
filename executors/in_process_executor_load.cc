// InProcessExecutor, the loading side: LoadFunction (limits, hashing, the
// runtime's load on a pool thread, installing the entry and its metric
// series) and UnloadFunction. The contract is in in_process_executor.h.
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/artifact_file.h"
#include "common/guarded.h"
#include "common/http_status.h"
#include "common/request_limits.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "executors/in_process_entry.h"
#include "executors/in_process_executor.h"

namespace stoa::executors {

absl::Status InProcessExecutor::CheckLoadLimits(const v1::LoadFunctionRequest& request) const {
  if (options_.max_artifact_bytes != 0) {
    uint64_t size = request.artifact().size();
    if (!request.artifact_path().empty()) {
      std::error_code ec;
      size = std::filesystem::file_size(request.artifact_path(), ec);
      if (ec) {
        return absl::NotFoundError(
            absl::StrCat("artifact file ", request.artifact_path(), ": ", ec.message()));
      }
    }
    RETURN_IF_ERROR(common::CheckArtifactSize(size, options_.max_artifact_bytes));
  }
  if (options_.max_timeout_ms != 0) {
    RETURN_IF_ERROR(common::CheckTimeoutMs(request.spec().limits().timeout_ms(),
                                           options_.max_timeout_ms,
                                           "spec field 'limits.timeout_ms'"));
  }
  return absl::OkStatus();
}

void InProcessExecutor::LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) {
  if (request.spec().name().empty()) {
    done(absl::InvalidArgumentError("LoadFunction: spec.name is empty"));
    return;
  }
  if (auto s = CheckLoadLimits(request); !s.ok()) {
    done(std::move(s));
    return;
  }
  v1::FunctionSpec spec = std::move(*request.mutable_spec());
  std::string artifact = std::move(*request.mutable_artifact());
  std::string path = std::move(*request.mutable_artifact_path());
  // Hashing and parsing can take a while for big artifacts: off the caller's thread.
  pool_.Schedule([this, spec = std::move(spec), artifact = std::move(artifact),
                  path = std::move(path), done = std::move(done)]() mutable {
    common::GuardedAnswer<absl::StatusOr<v1::LoadFunctionResponse>>(
        "in-process executor: load", std::move(done), [&](LoadCallback answer) {
          RunLoad(std::move(spec), std::move(artifact), std::move(path), std::move(answer));
        });
  });
}

void InProcessExecutor::RunLoad(v1::FunctionSpec spec, std::string artifact,
                                std::string artifact_path, LoadCallback done) {
  const int64_t start_us = clock_.NowMicros();
  const std::string name = spec.name();
  absl::StatusOr<std::string> hashed =
      artifact_path.empty() ? common::Sha256Hex(artifact) : common::Sha256OfFile(artifact_path);
  if (!hashed.ok()) {
    Count(loads_total_, name, hashed.status());
    done(hashed.status());
    return;
  }
  const std::string sha = *std::move(hashed);
  if (!spec.sha256().empty() && spec.sha256() != sha) {
    absl::Status status =
        absl::InvalidArgumentError(absl::StrCat("function '", name, "': artifact sha256 ", sha,
                                                " does not match spec.sha256 ", spec.sha256()));
    Count(loads_total_, name, status);
    done(std::move(status));
    return;
  }
  spec.set_sha256(sha);

  if (EntryPtr existing = Find(name, sha); existing != nullptr) {
    v1::LoadFunctionResponse response;
    response.set_already_loaded(true);
    response.set_load_us(0);
    *response.mutable_spec() = existing->fn->spec();
    Count(loads_total_, name, absl::OkStatus());
    done(std::move(response));
    return;
  }

  absl::StatusOr<functions::LoadedFunctionPtr> loaded;
  try {
    loaded = artifact_path.empty() ? runtimes_.Load(spec, artifact)
                                   : runtimes_.LoadFile(spec, artifact_path);
  } catch (const std::exception& e) {
    loaded = absl::InvalidArgumentError(
        absl::StrCat("function '", name, "': runtime threw while loading: ", e.what()));
  }
  const int64_t load_us = clock_.NowMicros() - start_us;
  if (!loaded.ok()) {
    Count(loads_total_, name, loaded.status());
    done(loaded.status());
    return;
  }

  done(Install(MakeEntry(name, sha, *std::move(loaded)), load_us));
}

void InProcessExecutor::AddSeries(Entry& entry, int64_t load_us) {
  if (metrics_ == nullptr) return;
  const common::metrics::Labels labels = {{"function", entry.function}};
  entry.ok_counter = invocations_total_->Add({{"function", entry.function}, {"outcome", "ok"}});
  entry.exec_seconds = exec_seconds_->Add(labels);
  entry.queue_seconds = queue_seconds_->Add(labels);
  load_seconds_->Add(labels)->Observe(load_us / 1e6);
}

v1::LoadFunctionResponse InProcessExecutor::Install(EntryPtr entry, int64_t load_us) {
  const std::string sha = entry->sha256;
  const std::string name = entry->function;
  v1::LoadFunctionResponse response;
  {
    absl::MutexLock lock(&mu_);
    auto& versions = functions_[entry->function];
    auto it = versions.find(sha);
    if (it != versions.end()) {
      // A concurrent load of the same bytes won: keep the first one.
      response.set_already_loaded(true);
      response.set_load_us(0);
      *response.mutable_spec() = it->second->fn->spec();
    } else {
      entry->sequence = ++load_sequence_;
      response.set_already_loaded(false);
      response.set_load_us(static_cast<uint64_t>(load_us));
      *response.mutable_spec() = entry->fn->spec();
      AddSeries(*entry, load_us);
      versions.emplace(sha, std::move(entry));
    }
  }
  Count(loads_total_, name, absl::OkStatus());
  // The runtime may not echo sha256 in the spec it derived; the key is ours.
  response.mutable_spec()->set_sha256(sha);
  return response;
}

void InProcessExecutor::UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) {
  bool unloaded = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = functions_.find(request.function());
    if (it != functions_.end()) {
      if (request.sha256().empty()) {
        unloaded = !it->second.empty();
        functions_.erase(it);
      } else {
        unloaded = it->second.erase(request.sha256()) > 0;
        if (it->second.empty()) functions_.erase(it);
      }
    }
    if (unloaded && !functions_.contains(request.function())) RemoveSeries(request.function());
  }
  v1::UnloadFunctionResponse response;
  response.set_unloaded(unloaded);
  done(std::move(response));
}

}  // namespace stoa::executors
