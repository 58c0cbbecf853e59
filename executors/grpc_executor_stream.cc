// GrpcExecutor's LoadFunctionStream client (grpc_executor.h): a synchronous
// client-streaming call on a thread of its own, registered like every other
// call so the destructor cancels and awaits it.
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/artifact_file.h"
#include "common/guarded.h"
#include "executors/grpc_executor.h"
#include "executors/grpc_status.h"
#include "spdlog/spdlog.h"

namespace stoa::executors {

void GrpcExecutor::LoadFunctionStream(v1::LoadFunctionRequest request, LoadCallback done) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(options_.load_timeout_ms));
  Register(context.get());
  std::thread([this, request = std::move(request), context = std::move(context),
               done = std::move(done)]() mutable {
    absl::StatusOr<v1::LoadFunctionResponse> result =
        StreamArtifact(*context, request, request.artifact_path());
    {
      absl::MutexLock lock(&mu_);
      in_flight_.erase(context.get());
    }
    context.reset();
    common::RunLogged("grpc executor load stream", [&] { done(std::move(result)); });
    absl::MutexLock lock(&mu_);
    --pending_callbacks_;
  }).detach();
}

void GrpcExecutor::LoadFromStoreOrStream(v1::LoadFunctionRequest request, std::string key,
                                         LoadCallback done) {
  v1::LoadFunctionRequest by_key;
  *by_key.mutable_spec() = request.spec();
  by_key.set_artifact_path(std::move(key));
  LoadFunctionUnary(
      std::move(by_key), [this, request = std::move(request), done = std::move(done)](
                             absl::StatusOr<v1::LoadFunctionResponse> result) mutable {
        const absl::StatusCode code = result.status().code();
        if (code != absl::StatusCode::kFailedPrecondition &&
            code != absl::StatusCode::kUnimplemented &&
            code != absl::StatusCode::kInvalidArgument) {
          return done(std::move(result));
        }
        // UNIMPLEMENTED: no store there, for good. INVALID_ARGUMENT (an
        // executor from before stores, or a spec it refuses) and
        // FAILED_PRECONDITION (this key): only this load.
        if (code != absl::StatusCode::kUnimplemented) {
          spdlog::warn("{}: {}; sending the bytes", Describe(),
                       std::string(result.status().message()));
        } else if (!store_refused_.exchange(true)) {
          spdlog::info("{} cannot load from the artifact store ({}); sending artifacts' bytes",
                       Describe(), std::string(result.status().message()));
        }
        bool stopping;
        {
          absl::MutexLock lock(&mu_);
          stopping = stopping_;
        }
        if (stopping) return done(absl::CancelledError(Describe() + " is shutting down"));
        LoadFunctionStream(std::move(request), std::move(done));
      });
}

absl::StatusOr<v1::LoadFunctionResponse> GrpcExecutor::StreamArtifact(
    grpc::ClientContext& context, const v1::LoadFunctionRequest& request, const std::string& path) {
  absl::StatusOr<std::unique_ptr<common::ChunkedFile>> file = common::ChunkedFile::Open(path);
  if (!file.ok()) return file.status();
  v1::LoadFunctionResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::LoadFunctionChunk>> writer =
      stub_->LoadFunctionStream(&context, &response);
  v1::LoadFunctionChunk chunk;
  *chunk.mutable_header()->mutable_spec() = request.spec();
  chunk.mutable_header()->set_size((*file)->size());
  bool open = writer->Write(chunk);
  absl::Status read_error;
  for (uint64_t offset = 0; open && offset < (*file)->size();) {
    absl::StatusOr<std::string> data = (*file)->ReadAt(offset, common::kArtifactChunkBytes);
    if (!data.ok()) {
      read_error = data.status();
      context.TryCancel();
      break;
    }
    offset += data->size();
    chunk.set_data(*std::move(data));
    open = writer->Write(chunk);
  }
  if (open && read_error.ok()) writer->WritesDone();
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (!read_error.ok()) return read_error;
  if (!status.ok()) {
    if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
      status = absl::Status(status.code(),
                            absl::StrCat(Describe(), ": ", std::string(status.message())));
    }
    return status;
  }
  return response;
}

}  // namespace stoa::executors
