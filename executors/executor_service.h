// ExecutorService exposes any Executor as the gRPC service
// stoa.v1.Executor (the `stoa-executor` server wraps an InProcessExecutor).
// GrpcServer builds and runs a grpc::Server for it.
//
// ExecutorService uses the callback API: each RPC returns a
// grpc::ServerUnaryReactor that is finished from the executor's callback, so
// no gRPC server thread blocks while a function runs. Invoke's reactor
// turns the RPC's cancellation (OnCancel: the client cancelled, its deadline
// passed, or GrpcServer::Shutdown's grace period ended) into the call's
// CancelSignal, so a queued call is skipped and a running one is stopped by
// its runtime (CANCELLED). Errors cross the
// boundary through ToGrpcStatus, code unchanged.
//
// An Invoke carrying a pipeline chain (InvokeRequest.chain) runs its stages
// here, in memory (chain_runner.h); GetStatus adds the counts of Invoke
// RPCs and of chained ones to the executor's answer.
//
// LoadFunctionStream carries artifacts of any size in chunks of at most
// 1 MiB (load_stream_reactor.h). LoadFunction's artifact_path, over gRPC, is
// a key of the shared artifact store (artifact_store.h, "sha256/<hex>"),
// never a path of the client's choosing: with SetArtifactStore the key is
// resolved strictly inside the store and its bytes checked against
// spec.sha256, off the gRPC thread, then loaded from there; a key the store
// refuses (missing, corrupted, a link, malformed) answers
// FAILED_PRECONDITION "artifact store: …" and an executor without a store
// answers UNIMPLEMENTED, so the client sends the bytes instead
// (GrpcExecutor does). Each such load counts in
// stoa_executor_store_loads_total{outcome="ok"|"refused"|"no_store"}.
//
// LoadFunction checks the spec with functions::ValidateFunctionSpec against
// the limits given at construction before the executor sees it: a spec the
// REST layer would refuse is INVALID_ARGUMENT with the REST layer's message,
// and nothing is stored or compiled.
//
// Thread safety: ExecutorService is safe for concurrent RPCs if the wrapped
// executor is (every Executor is). Ownership: the executor must outlive the
// service, and the service must outlive the server it is registered with.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "common/request_limits.h"
#include "executors/artifact_store.h"
#include "executors/executor.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "stoa/v1/executor.grpc.pb.h"

namespace stoa::executors {

class ExecutorService final : public v1::Executor::CallbackService {
 public:
  // `limits`: max_timeout_ms and max_description_bytes bound LoadFunction's
  // spec, as --max-timeout-ms and --max-description-bytes do on the gateway.
  // `client_names` (mutual TLS only): when not empty, every RPC is refused
  // with PERMISSION_DENIED unless the client certificate's CN or one of its
  // DNS SANs is in the list, so a certificate the same CA issued for
  // another purpose (a device's) does not reach the executor.
  // `spool_dir`: where LoadFunctionStream writes artifacts while they
  // arrive (load_stream_reactor.h); "" means the system's temp directory.
  explicit ExecutorService(Executor* executor, common::RequestLimits limits = {},
                           std::vector<std::string> client_names = {}, std::string spool_dir = "");
  ~ExecutorService() override;

  // Lets LoadFunction load by store key from `store` (nullable: refused
  // with UNIMPLEMENTED, the default). `metrics` (nullable) gets
  // stoa_executor_store_loads_total. Call before the server starts; both
  // must outlive the service.
  void SetArtifactStore(const ArtifactStore* store, common::metrics::Registry* metrics);

  // Invoke, LoadFunction and LoadFunctionStream calls received so far (not
  // GetStatus or health checks): a drain waits until it stops growing.
  uint64_t work_calls() const { return work_calls_.load(std::memory_order_relaxed); }

  grpc::ServerUnaryReactor* Invoke(grpc::CallbackServerContext* context,
                                   const v1::InvokeRequest* request,
                                   v1::InvokeResponse* response) override;
  grpc::ServerUnaryReactor* LoadFunction(grpc::CallbackServerContext* context,
                                         const v1::LoadFunctionRequest* request,
                                         v1::LoadFunctionResponse* response) override;
  grpc::ServerReadReactor<v1::LoadFunctionChunk>* LoadFunctionStream(
      grpc::CallbackServerContext* context, v1::LoadFunctionResponse* response) override;
  grpc::ServerUnaryReactor* UnloadFunction(grpc::CallbackServerContext* context,
                                           const v1::UnloadFunctionRequest* request,
                                           v1::UnloadFunctionResponse* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const v1::GetStatusRequest* request,
                                      v1::GetStatusResponse* response) override;

 private:
  // OK, or PERMISSION_DENIED when client_names_ is set and the peer's
  // certificate names none of them.
  absl::Status CheckPeer(const grpc::CallbackServerContext& context) const;
  // LoadFunction by store key: resolves and loads on a thread of its own
  // (hashing a large artifact must not hold a gRPC thread).
  void LoadFromStore(grpc::ServerUnaryReactor* reactor, v1::LoadFunctionRequest request,
                     v1::LoadFunctionResponse* response);
  void CountStoreLoad(const std::string& outcome);

  Executor* const executor_;
  const common::RequestLimits limits_;
  const std::vector<std::string> client_names_;
  const std::string spool_dir_;
  const ArtifactStore* store_ = nullptr;
  common::metrics::Family<common::metrics::Counter>* store_loads_ = nullptr;
  // LoadFromStore threads running: the destructor waits for them.
  absl::Mutex threads_mu_;
  int store_threads_ ABSL_GUARDED_BY(threads_mu_) = 0;
  // GetStatusResponse.invoke_calls / chained_calls.
  std::atomic<uint64_t> invoke_calls_{0};
  std::atomic<uint64_t> chained_calls_{0};
  std::atomic<uint64_t> work_calls_{0};
};

// A started gRPC server with one service.
class GrpcServer {
 public:
  struct Options {
    int max_message_bytes = 64 * 1024 * 1024;
    // Transport security of the listening port (executors/grpc_tls.h:
    // ExecutorServerCredentials for mutual TLS); null: plaintext. TLS works
    // on a unix: socket too.
    std::shared_ptr<grpc::ServerCredentials> credentials;
    // Serve the standard grpc.health.v1.Health service (gRPC's default
    // implementation: Check and Watch) next to `service`: "" and
    // `health_service_name` answer SERVING until SetServing(false) or
    // Shutdown. Turns on gRPC's process-wide default health service switch.
    bool health_service = false;
    std::string health_service_name = "stoa.v1.Executor";
  };

  // Listens on `listen`: "host:port" (port 0 picks a free port) or
  // "unix:/path". INVALID_ARGUMENT for a malformed address, UNAVAILABLE when
  // it cannot be bound (port in use, no such interface, bad socket path).
  // `service` must outlive the returned server; null serves only the health
  // service (a plaintext port for probes, with Options::health_service).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const std::string& listen,
                                                           grpc::Service* service, Options options);
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const std::string& listen,
                                                           grpc::Service* service) {
    return Start(listen, service, Options());
  }

  // Shuts down (waiting up to `grace_ms` for calls in flight) if not done yet.
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound address: "host:port" with the real port, or "unix:/path".
  const std::string& address() const { return address_; }
  // The bound TCP port; 0 for a Unix socket.
  int port() const { return port_; }

  // The health service's answer for every service name it knows: SERVING
  // or NOT_SERVING (a drain starts with SetServing(false)). No effect
  // without Options::health_service. Thread-safe.
  void SetServing(bool serving);

  // Stops accepting calls; calls still running after `grace_ms` are
  // cancelled. Returns when every call has finished. Idempotent.
  void Shutdown(int grace_ms = 2000);

 private:
  GrpcServer(std::unique_ptr<grpc::Server> server, std::string address, int port,
             std::string service_name)
      : server_(std::move(server)),
        address_(std::move(address)),
        port_(port),
        service_name_(std::move(service_name)) {}

  // Declared first, destroyed after server_ (a health-only server's service).
  std::unique_ptr<grpc::CallbackGenericService> unimplemented_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  int port_;
  std::string service_name_;  // the health service's name for it ("" too)
  std::atomic<bool> shut_down_{false};
};

}  // namespace stoa::executors
