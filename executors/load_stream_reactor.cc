#include "executors/load_stream_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/guarded.h"
#include "executors/grpc_status.h"
#include "functions/spec_rules.h"

namespace stoa::executors {

LoadStreamReactor::LoadStreamReactor(Executor* executor, const common::RequestLimits& limits,
                                     std::string spool_dir, v1::LoadFunctionResponse* response,
                                     absl::Status refused)
    : executor_(executor), limits_(limits), spool_dir_(std::move(spool_dir)), response_(response) {
  if (!refused.ok()) {
    End(std::move(refused));
    return;
  }
  StartRead(&chunk_);
}

void LoadStreamReactor::OnReadDone(bool ok) {
  if (!ok) return Complete();  // the client closed its side (or went away)
  absl::Status taken = chunk_.has_header() ? TakeHeader() : TakeData();
  if (!taken.ok()) return End(std::move(taken));
  StartRead(&chunk_);
}

absl::Status LoadStreamReactor::TakeHeader() {
  if (have_header_) {
    return absl::InvalidArgumentError("LoadFunctionStream: a second header after the first");
  }
  have_header_ = true;
  spec_ = std::move(*chunk_.mutable_header()->mutable_spec());
  declared_size_ = chunk_.header().size();
  if (spec_.name().empty()) return absl::InvalidArgumentError("LoadFunction: spec.name is empty");
  if (spec_.sha256().size() != 64) {
    return absl::InvalidArgumentError(
        "LoadFunctionStream: the header's spec.sha256 must be the artifact's SHA-256 (64 hex "
        "characters)");
  }
  if (absl::Status valid = functions::ValidateFunctionSpec(spec_, limits_); !valid.ok()) {
    return valid;
  }
  if (absl::Status size = common::CheckArtifactSize(declared_size_, limits_.max_artifact_bytes);
      !size.ok()) {
    return size;
  }
  absl::StatusOr<std::unique_ptr<common::UploadSpool>> spool =
      common::UploadSpool::Open(spool_dir_);
  if (!spool.ok()) return spool.status();
  spool_ = *std::move(spool);
  return absl::OkStatus();
}

absl::Status LoadStreamReactor::TakeData() {
  if (!have_header_) {
    return absl::InvalidArgumentError(
        "LoadFunctionStream: the first message must be the header (spec and size)");
  }
  const std::string& data = chunk_.data();
  if (data.size() > common::kArtifactChunkBytes) {
    return absl::InvalidArgumentError(absl::StrCat("LoadFunctionStream: a chunk of ", data.size(),
                                                   " bytes; chunks are at most ",
                                                   common::kArtifactChunkBytes, " bytes"));
  }
  received_ += data.size();
  if (absl::Status size = common::CheckArtifactSize(received_, limits_.max_artifact_bytes);
      !size.ok()) {
    return size;
  }
  if (received_ > declared_size_) {
    return absl::InvalidArgumentError(absl::StrCat("LoadFunctionStream: more than the ",
                                                   declared_size_, " bytes the header declared"));
  }
  hash_.Update(data);
  return spool_->Write(data);
}

void LoadStreamReactor::Complete() {
  if (!have_header_) {
    return End(absl::InvalidArgumentError("LoadFunctionStream: the stream ended without a header"));
  }
  if (received_ != declared_size_) {
    return End(
        absl::InvalidArgumentError(absl::StrCat("LoadFunctionStream: the stream ended after ",
                                                received_, " of ", declared_size_, " bytes")));
  }
  const std::string sha = hash_.FinishHex();
  if (sha != spec_.sha256()) {
    return End(absl::InvalidArgumentError(
        absl::StrCat("function '", spec_.name(), "': artifact sha256 ", sha,
                     " does not match spec.sha256 ", spec_.sha256())));
  }
  absl::StatusOr<std::shared_ptr<common::SpooledBody>> file = spool_->Finish();
  if (!file.ok()) return End(file.status());
  v1::LoadFunctionRequest request;
  *request.mutable_spec() = std::move(spec_);
  request.set_artifact_path((*file)->path());
  // The file lives until the load has answered (the lambda holds it).
  common::GuardedAnswer<absl::StatusOr<v1::LoadFunctionResponse>>(
      "executor service: LoadFunctionStream",
      [this, file = *std::move(file)](absl::StatusOr<v1::LoadFunctionResponse> result) {
        if (result.ok()) *response_ = *std::move(result);
        End(result.status());
      },
      [&](LoadCallback done) { executor_->LoadFunction(std::move(request), std::move(done)); });
}

void LoadStreamReactor::End(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
  }
  spool_.reset();  // an unfinished upload file goes now
  Finish(ToGrpcStatus(status));
}

}  // namespace stoa::executors
