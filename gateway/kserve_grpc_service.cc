#include "gateway/kserve_grpc_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "executors/grpc_status.h"
#include "executors/grpc_tls.h"
#include "functions/signature.h"
#include "gateway/kserve_grpc_codec.h"
#include "gateway/pipeline_spec.h"
#include "gateway/target_spec.h"

namespace stoa::gateway {
namespace {

// A string request parameter (`parameters["tier"]` / `["target"]`, the
// gRPC counterparts of ?tier= and ?target=); "" when absent.
absl::StatusOr<std::string> StringParameter(const inference::ModelInferRequest& request,
                                            const std::string& key) {
  auto it = request.parameters().find(key);
  if (it == request.parameters().end()) return std::string();
  if (it->second.parameter_choice_case() != inference::InferParameter::kStringParam) {
    return absl::InvalidArgumentError(
        absl::StrCat("request parameter '", key, "' must be a string_param"));
  }
  return it->second.string_param();
}

using P = auth::Permission;

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(executors::ToGrpcStatus(status));
  return reactor;
}

// "ipv4:127.0.0.1:5000" -> "127.0.0.1", for logs and the audit trail.
std::string PeerAddress(const std::string& peer) {
  std::string address = peer.substr(peer.find(':') + 1);
  const size_t port = address.rfind(':');
  return port == std::string::npos ? address : address.substr(0, port);
}

// ModelInfer's reactor: the client's cancellation (TryCancel, its
// deadline, a closed connection, a server shutdown past its grace) fires
// the invocation's CancelSignal, so the dispatcher withdraws every run of
// it (a queued call does not run; a running ONNX model stops between
// nodes; a cloud run's RPC is cancelled). Deletes itself when gRPC is done.
class InferReactor final : public grpc::ServerUnaryReactor {
 public:
  const common::CancelSignalPtr& cancel() const { return cancel_; }
  void OnCancel() override { cancel_->Cancel(); }
  void OnDone() override { delete this; }

 private:
  const common::CancelSignalPtr cancel_ = std::make_shared<common::CancelSignal>();
};

void FillTensorMetadata(
    const ::stoa::functions::Signature& signature,
    google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>& out) {
  for (const v1::TensorSignature& sig : signature) {
    auto* t = out.Add();
    t->set_name(sig.name());
    t->set_datatype(std::string(DataTypeName(sig.datatype())));
    t->mutable_shape()->CopyFrom(sig.shape());
  }
}

}  // namespace

KserveGrpcService::KserveGrpcService(ControlPlane& control, Invoker& invoker, Options options)
    : control_(control), invoker_(invoker), options_(std::move(options)) {}

absl::StatusOr<Caller> KserveGrpcService::Admit(const grpc::CallbackServerContext& context,
                                                const std::vector<P>& permissions,
                                                const std::string& what) const {
  Caller open;
  open.client = PeerAddress(context.peer());
  if (options_.access == nullptr || permissions.empty()) return open;
  // The REST rules, fed the same credentials: the authorization metadata.
  common::HttpRequest request;
  request.client = open.client;
  request.tls = context.auth_context() != nullptr && context.auth_context()->IsPeerAuthenticated();
  for (const auto& [key, value] : context.client_metadata()) {
    if (key == "authorization") {
      request.headers.emplace("authorization", std::string(value.data(), value.size()));
    }
  }
  absl::StatusOr<Caller> caller = options_.access->Authenticate(request, permissions);
  if (!caller.ok()) return caller.status();
  RETURN_IF_ERROR(AccessControl::Authorize(*caller, permissions, what));
  return caller;
}

absl::StatusOr<StoredFunction> KserveGrpcService::VisibleModel(const Caller& caller,
                                                               const std::string& name) const {
  if (caller.identity && !caller.identity->Allows(P::kFunctionsRead)) {
    RETURN_IF_ERROR(AccessControl::CheckInvoke(caller, name));
  }
  absl::StatusOr<StoredFunction> fn = control_.Get(name);
  if (!fn.ok()) return fn.status();
  RETURN_IF_ERROR(AccessControl::CheckTenant(caller, fn->spec));
  return fn;
}

bool KserveGrpcService::Ready() const {
  const scheduler::TierSet configured = invoker_.configured_tiers();
  for (scheduler::Tier t : scheduler::AllTiers()) {
    if (configured.Contains(t) && !invoker_.Health(t).saturated) return true;
  }
  return false;
}

grpc::ServerUnaryReactor* KserveGrpcService::ServerLive(grpc::CallbackServerContext* context,
                                                        const inference::ServerLiveRequest*,
                                                        inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KserveGrpcService::ServerReady(grpc::CallbackServerContext* context,
                                                         const inference::ServerReadyRequest*,
                                                         inference::ServerReadyResponse* response) {
  response->set_ready(Ready());
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KserveGrpcService::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name("stoa");
  response->set_version("1");
  response->add_extensions("binary_tensor_data");
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KserveGrpcService::ModelReady(grpc::CallbackServerContext* context,
                                                        const inference::ModelReadyRequest* request,
                                                        inference::ModelReadyResponse* response) {
  absl::StatusOr<Caller> caller = Admit(*context, {P::kFunctionsRead, P::kInvoke}, "ModelReady");
  if (!caller.ok()) return Done(context, caller.status());
  absl::StatusOr<StoredFunction> fn = VisibleModel(*caller, request->name());
  if (!fn.ok()) return Done(context, fn.status());
  response->set_ready(Ready());
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KserveGrpcService::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  absl::StatusOr<Caller> caller = Admit(*context, {P::kFunctionsRead, P::kInvoke}, "ModelMetadata");
  if (!caller.ok()) return Done(context, caller.status());
  absl::StatusOr<StoredFunction> fn = VisibleModel(*caller, request->name());
  if (!fn.ok()) return Done(context, fn.status());
  response->set_name(request->name());
  response->add_versions(std::to_string(fn->spec.version()));
  response->set_platform(fn->spec.runtime());
  FillTensorMetadata(fn->spec.inputs(), *response->mutable_inputs());
  FillTensorMetadata(fn->spec.outputs(), *response->mutable_outputs());
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KserveGrpcService::ModelInfer(grpc::CallbackServerContext* context,
                                                        const inference::ModelInferRequest* request,
                                                        inference::ModelInferResponse* response) {
  absl::StatusOr<Caller> caller = Admit(*context, {P::kInvoke}, "ModelInfer");
  if (!caller.ok()) return Done(context, caller.status());
  const std::string& name = request->model_name();
  if (auto s = AccessControl::CheckInvoke(*caller, name); !s.ok()) return Done(context, s);
  absl::StatusOr<StoredFunction> fn = control_.Get(name);
  if (!fn.ok()) return Done(context, fn.status());
  if (auto s = AccessControl::CheckTenant(*caller, fn->spec); !s.ok()) return Done(context, s);
  // Tensors in and out: an onnx function, or a pipeline whose first and
  // last stages are onnx (docs/pipelines.md).
  if (!TakesTensors(fn->spec) || !AnswersTensors(fn->spec)) {
    return Done(context, absl::InvalidArgumentError(absl::StrCat(
                             "function '", name, "' is a ", fn->spec.runtime(),
                             " function that does not take and answer tensors; ModelInfer serves "
                             "onnx functions and pipelines whose first and last stages are onnx")));
  }
  if (!request->model_version().empty() &&
      request->model_version() != std::to_string(fn->spec.version())) {
    return Done(context, absl::NotFoundError(absl::StrCat(
                             "model '", name, "' version ", request->model_version(),
                             " is not served (current version: ", fn->spec.version(), ")")));
  }
  absl::StatusOr<std::string> tier = StringParameter(*request, "tier");
  if (!tier.ok()) return Done(context, tier.status());
  absl::StatusOr<std::string> target = StringParameter(*request, "target");
  if (!target.ok()) return Done(context, target.status());
  absl::StatusOr<std::optional<scheduler::Tier>> forced =
      ForcedTarget(*tier, *target, "request parameter");
  if (!forced.ok()) return Done(context, forced.status());
  // gRPC owns the request until Finish and never reads it again: its raw
  // contents are moved into the tensors rather than copied.
  auto* mutable_request = const_cast<inference::ModelInferRequest*>(request);
  auto infer = std::make_shared<InferRequest>();
  absl::StatusOr<InferRequest> decoded = DecodeModelInfer(*mutable_request);
  if (!decoded.ok()) return Done(context, decoded.status());
  *infer = *std::move(decoded);
  if (auto s = CheckAgainstSignature(*infer, fn->spec); !s.ok()) return Done(context, s);
  v1::InvokeRequest invoke;
  for (v1::Tensor& t : infer->inputs) *invoke.add_inputs() = std::move(t);
  infer->inputs.clear();
  auto* reactor = new InferReactor();
  common::CancelSignalPtr cancel = reactor->cancel();
  invoker_.Invoke(
      *fn, std::move(invoke), *forced,
      [reactor, response, infer, name, version = fn->spec.version(),
       max_output = options_.limits.max_output_bytes](absl::StatusOr<DispatchResult> result) {
        if (!result.ok()) {
          reactor->Finish(executors::ToGrpcStatus(result.status()));
          return;
        }
        absl::Status s = EncodeModelInfer(name, version, *infer, result->response, *response);
        if (s.ok() && max_output != 0 && response->ByteSizeLong() > max_output + 64 * 1024) {
          s = common::OutputTooLarge(name, "response", response->ByteSizeLong(), max_output);
        }
        reactor->Finish(executors::ToGrpcStatus(s));
      },
      std::move(cancel));
  return reactor;
}

absl::StatusOr<std::unique_ptr<executors::GrpcServer>> StartKserveGrpcServer(
    const std::string& listen, KserveGrpcService& service, const KserveGrpcServerOptions& options) {
  executors::GrpcServer::Options server;
  server.max_message_bytes = options.max_message_bytes;
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    ASSIGN_OR_RETURN(server.credentials,
                     executors::ExecutorServerCredentials({.cert_file = options.tls_cert_file,
                                                           .key_file = options.tls_key_file,
                                                           .client_ca_file = ""}));
  }
  return executors::GrpcServer::Start(listen, &service, std::move(server));
}

}  // namespace stoa::gateway
