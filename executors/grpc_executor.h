// GrpcExecutor is an Executor whose functions run in a remote
// `stoa-executor` process, reached over gRPC (TCP "host:port", or a Unix
// socket "unix:/path" for a local edge executor).
//
// Asynchronous: every method starts a call with the gRPC callback API and
// returns at once; `done` runs on a gRPC thread when the call completes, so
// a slow cloud call never holds a caller's thread.
//
// Deadlines: every call has one. Invoke uses request.timeout_ms plus a small
// margin (so the server, which enforces timeout_ms itself, reports its own
// DEADLINE_EXCEEDED with timings: the function's failure) or
// default_timeout_ms when it is 0; a call whose own deadline passes with no
// answer ends UNAVAILABLE (the executor or its link failed, not the
// function: docs/architecture.md § Errors);
// LoadFunction uses load_timeout_ms (artifacts can be big); the others
// default_timeout_ms. A LoadFunctionRequest with artifact_path (the
// registry's file) goes out as LoadFunctionStream: the spec, then the file
// in chunks of at most 1 MiB read as they are sent (on a thread of its
// own, grpc_executor_stream.cc), so no message nears the gRPC limit and the
// artifact is never whole in memory. With Options::artifact_store, when
// artifact_path is that store's file of spec.sha256 (DIR/sha256/<hex>), the
// load first goes out as LoadFunction naming only the store key
// ("sha256/<hex>", executor_service.h): the executor reads the shared
// volume and no artifact byte crosses gRPC. Its refusal falls back to the
// stream: FAILED_PRECONDITION (the executor's store lacks the file, or it
// is corrupted there) and INVALID_ARGUMENT (an executor from before stores)
// for this load; UNIMPLEMENTED (the executor has no store) for every later
// load of this GrpcExecutor too (logged once).
//
// Failure: calls do not wait for the channel to become ready, and the channel
// retries connections with a backoff capped near connect_timeout_ms, so a dead
// or unreachable peer fails with UNAVAILABLE quickly (within about
// connect_timeout_ms) and never later than the call's deadline. Statuses from
// the server arrive with their code unchanged (FromGrpcStatus): NOT_FOUND
// from the remote executor is NOT_FOUND here. UNAVAILABLE and
// DEADLINE_EXCEEDED messages are prefixed with Describe().
//
// Security: plaintext unless Options::credentials is set (mutual TLS:
// executors/grpc_tls.h).
//
// Thread safety: all methods may be called concurrently.
// Lifetime: the destructor cancels calls still in flight (their callbacks get
// CANCELLED) and waits for their callbacks to return; do not destroy the
// executor from inside one of its own callbacks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "executors/executor.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "stoa/v1/executor.grpc.pb.h"

namespace stoa::executors {

class GrpcExecutor final : public Executor {
 public:
  struct Options {
    // Cap of the reconnect backoff, and the connect attempt timeout.
    int connect_timeout_ms = 1000;
    // Deadline of calls that carry no timeout of their own.
    int default_timeout_ms = 10000;
    // Deadline of LoadFunction.
    int load_timeout_ms = 60000;
    // Margin added to request.timeout_ms for the transport deadline.
    int deadline_margin_ms = 50;
    int max_message_bytes = 64 * 1024 * 1024;
    // Transport security (executors/grpc_tls.h: ExecutorChannelCredentials
    // for mutual TLS); null: plaintext. A TLS channel to a plaintext
    // executor, or the reverse, fails every call with UNAVAILABLE.
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    // With credentials: the name the executor's certificate must carry,
    // instead of the target's host (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG);
    // "" checks the target's host ("localhost" for unix:PATH).
    std::string tls_server_name;
    // The gateway's --artifact-store DIR ("" none): loads of its files are
    // offered to the executor by store key first (see the file comment).
    std::string artifact_store;
  };

  explicit GrpcExecutor(std::string target);
  GrpcExecutor(std::string target, Options options);
  ~GrpcExecutor() override;

  using Executor::Invoke;
  // A cancelled call is cancelled on the wire (ClientContext::TryCancel): the
  // server sees it and skips the work if it has not started.
  void Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) override;
  void LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) override;
  void UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) override;
  void GetStatus(StatusCallback done) override;
  // "grpc:<target>".
  std::string Describe() const override { return "grpc:" + target_; }

 private:
  template <typename Request, typename Response>
  struct Call;

  // Starts `method` on `stub_->async()` with a heap-held call whose deadline
  // is `timeout_ms` from now, and calls `done` with the result.
  template <typename Request, typename Response, typename Method, typename Done>
  void Start(Method method, Request request, int64_t timeout_ms, Done done,
             CancelSignalPtr cancel = nullptr);

  // Adds a call about to start: cancellable, and awaited by the destructor.
  void Register(grpc::ClientContext* context);

  // Unary LoadFunction as it is (bytes in `artifact`, or a store key).
  void LoadFunctionUnary(v1::LoadFunctionRequest request, LoadCallback done);
  // LoadFunction naming store key `key`, then the stream when refused
  // (grpc_executor_stream.cc).
  void LoadFromStoreOrStream(v1::LoadFunctionRequest request, std::string key, LoadCallback done);
  // LoadFunction for a request with artifact_path (grpc_executor_stream.cc).
  void LoadFunctionStream(v1::LoadFunctionRequest request, LoadCallback done);
  absl::StatusOr<v1::LoadFunctionResponse> StreamArtifact(grpc::ClientContext& context,
                                                          const v1::LoadFunctionRequest& request,
                                                          const std::string& path);

  const std::string target_;
  const Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Executor::Stub> stub_;

  absl::Mutex mu_;
  // Contexts of calls not yet completed (the destructor cancels them).
  std::set<grpc::ClientContext*> in_flight_ ABSL_GUARDED_BY(mu_);
  // Calls whose callback has not returned yet (the destructor awaits them).
  int pending_callbacks_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // the destructor began
  // The executor cannot load by store key: send the bytes from now on.
  std::atomic<bool> store_refused_{false};
};

}  // namespace stoa::executors
