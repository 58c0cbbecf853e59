// The KServe v2 gRPC inference protocol on the gateway
// (inference.GRPCInferenceService, proto/inference/grpc_service.proto):
// ServerLive, ServerReady, ServerMetadata, ModelReady, ModelMetadata and
// ModelInfer (raw_input_contents or typed contents in, raw_output_contents
// out; kserve_grpc_codec.h), so Triton's and KServe's gRPC clients call
// Stoa's tensor functions unchanged. ModelInfer goes through the same
// Invoker (scheduler, admission, executors) as POST /v2/models/{name}/infer.
//
// Access: the same rules as the REST API (gateway/access_control.h). The
// bearer token comes from the `authorization` metadata ("Bearer <token>");
// ModelInfer needs the invoke permission, ModelReady and ModelMetadata
// functions-read or invoke (an invoker limited to name patterns sees only
// those), ServerLive / ServerReady / ServerMetadata are open. A caller with
// a tenant sees only its tenant's functions (others are NOT_FOUND). Errors
// are the gRPC codes of the Status (executors/grpc_status.h): bad input
// INVALID_ARGUMENT naming the input, UNAUTHENTICATED, PERMISSION_DENIED,
// NOT_FOUND, RESOURCE_EXHAUSTED when admission refuses or when the output
// is over the output size limit (common::OutputTooLarge; HTTP answers 507).
// A client that cancels ModelInfer (TryCancel, its deadline, a closed
// connection) cancels the invocation: every run of it is withdrawn as on
// REST when the HTTP client goes away (gateway/invoker.h).
//
// Thread safety: every RPC may run concurrently. Ownership: the control
// plane, the invoker and the AccessControl must outlive the service, and
// the service the server that serves it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/request_limits.h"
#include "executors/executor_service.h"
#include "gateway/access_control.h"
#include "gateway/control_plane.h"
#include "gateway/invoker.h"
#include "inference/grpc_service.grpc.pb.h"

namespace stoa::gateway {

class KserveGrpcService final : public inference::GRPCInferenceService::CallbackService {
 public:
  struct Options {
    AccessControl* access = nullptr;  // null: every call is admitted (anonymous)
    common::RequestLimits limits;     // max_output_bytes bounds a response's tensors
  };

  KserveGrpcService(ControlPlane& control, Invoker& invoker, Options options);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

 private:
  // Who calls, admitted for one of `permissions` (see above).
  absl::StatusOr<Caller> Admit(const grpc::CallbackServerContext& context,
                               const std::vector<auth::Permission>& permissions,
                               const std::string& what) const;
  // The function `name` as the caller may see it (REST's VisibleModel).
  absl::StatusOr<StoredFunction> VisibleModel(const Caller& caller, const std::string& name) const;
  bool Ready() const;

  ControlPlane& control_;
  Invoker& invoker_;
  const Options options_;
};

struct KserveGrpcServerOptions {
  // --tls-cert / --tls-key of the gateway (PEM files): the port serves TLS
  // with them (executors::ExecutorServerCredentials without a client CA:
  // checked up front, re-read every 60 s, so a rotated certificate reaches
  // new connections as on HTTPS); both empty: plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  int max_message_bytes = 64 * 1024 * 1024;
};

// Serves `service` on `listen` ("host:port", port 0 picks one). Errors:
// INVALID_ARGUMENT for a bad address or TLS files that are unreadable, not
// PEM, mismatched or expired (naming the file), UNAVAILABLE
// when the port cannot be bound.
absl::StatusOr<std::unique_ptr<executors::GrpcServer>> StartKserveGrpcServer(
    const std::string& listen, KserveGrpcService& service, const KserveGrpcServerOptions& options);

}  // namespace stoa::gateway
