// LoadStreamReactor: the server side of Executor.LoadFunctionStream
// (executor.proto). The first message is the header (spec with sha256,
// size); the rest are chunks of at most 1 MiB, written to a spool file as
// they arrive, hashed as they pass, and counted against the executor's
// --max-artifact-mb before the header's size is trusted. When the client
// closes the stream the size and sha256 are checked, then the wrapped
// Executor loads the file (LoadFunctionRequest::artifact_path); the file
// is removed once the load has answered, whatever the outcome.
//
// Errors: INVALID_ARGUMENT (no header, a second header, a chunk over 1 MiB,
// a size or digest that does not match, a bad spec), OUT_OF_RANGE (over the
// artifact size limit), RESOURCE_EXHAUSTED (the spool disk is full); and
// whatever the executor's load returns.
//
// Thread safety: gRPC serializes the reactor's callbacks; the executor's
// answer may come on any thread. Ownership: deletes itself in OnDone; the
// executor must outlive it.
#pragma once

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/artifact_file.h"
#include "common/request_limits.h"
#include "executors/executor.h"
#include "grpcpp/support/server_callback.h"
#include "stoa/v1/executor.grpc.pb.h"

namespace stoa::executors {

class LoadStreamReactor final : public grpc::ServerReadReactor<v1::LoadFunctionChunk> {
 public:
  // `refused`: not OK to refuse the stream at once (a peer check failed).
  LoadStreamReactor(Executor* executor, const common::RequestLimits& limits, std::string spool_dir,
                    v1::LoadFunctionResponse* response, absl::Status refused);

  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  absl::Status TakeHeader();
  absl::Status TakeData();
  void Complete();
  void End(absl::Status status);

  Executor* const executor_;
  const common::RequestLimits limits_;
  const std::string spool_dir_;
  v1::LoadFunctionResponse* const response_;
  v1::LoadFunctionChunk chunk_;
  bool have_header_ = false;
  v1::FunctionSpec spec_;
  uint64_t declared_size_ = 0;
  uint64_t received_ = 0;
  std::unique_ptr<common::UploadSpool> spool_;  // removes its file unless finished
  common::Sha256Stream hash_;
  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace stoa::executors
