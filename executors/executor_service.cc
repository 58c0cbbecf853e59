#include "executors/executor_service.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/guarded.h"
#include "common/host_port.h"
#include "executors/chain_runner.h"
#include "executors/grpc_status.h"
#include "executors/load_stream_reactor.h"
#include "functions/spec_rules.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"

namespace stoa::executors {
namespace {

// Finishes `reactor` with `result`, moving the value into `response`.
template <typename Response>
void Finish(grpc::ServerUnaryReactor* reactor, Response* response,
            absl::StatusOr<Response> result) {
  if (result.ok()) {
    *response = std::move(*result);
    reactor->Finish(grpc::Status::OK);
  } else {
    reactor->Finish(ToGrpcStatus(result.status()));
  }
}

// Calls the backend through `call`, answering `reactor` once, with INTERNAL
// when the backend throws before answering (gRPC would swallow the
// exception and leave the call open).
template <typename Response, typename Call>
void Serve(std::string_view where, grpc::ServerUnaryReactor* reactor, Response* response,
           Call&& call) {
  common::GuardedAnswer<absl::StatusOr<Response>>(
      where,
      [reactor, response](absl::StatusOr<Response> result) {
        Finish(reactor, response, std::move(result));
      },
      std::forward<Call>(call));
}

// Invoke's reactor: the RPC's cancellation (the client's TryCancel, its
// deadline, a server shutdown past its grace period) is pushed into the
// call's CancelSignal, so the executor stops a running call, not only a
// queued one. Deletes itself when gRPC is done with it.
class InvokeReactor final : public grpc::ServerUnaryReactor {
 public:
  InvokeReactor() = default;
  const CancelSignalPtr& cancel() const { return cancel_; }
  void OnCancel() override { cancel_->Cancel(); }
  void OnDone() override { delete this; }

 private:
  const CancelSignalPtr cancel_ = std::make_shared<CancelSignal>();
};

// A gRPC listen address: "unix:PATH" or HOST:PORT (common/host_port.h).
struct ListenAddress {
  std::string unix_path;  // set for "unix:PATH"
  common::HostPort host_port;
};

absl::StatusOr<ListenAddress> ParseListen(const std::string& listen) {
  ListenAddress address;
  if (absl::StartsWith(listen, "unix:")) {
    address.unix_path = listen.substr(5);
    if (address.unix_path.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("listen address '", listen, "' has no socket path"));
    }
    return address;
  }
  absl::StatusOr<common::HostPort> host_port = common::ParseHostPort(listen);
  if (!host_port.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: ", host_port.status().message(), "; or unix:PATH"));
  }
  address.host_port = std::move(*host_port);
  return address;
}

}  // namespace

ExecutorService::ExecutorService(Executor* executor, common::RequestLimits limits,
                                 std::vector<std::string> client_names, std::string spool_dir)
    : executor_(executor),
      limits_(limits),
      client_names_(std::move(client_names)),
      spool_dir_(spool_dir.empty() ? std::filesystem::temp_directory_path().string()
                                   : std::move(spool_dir)) {}

absl::Status ExecutorService::CheckPeer(const grpc::CallbackServerContext& context) const {
  if (client_names_.empty()) return absl::OkStatus();
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::string seen;
  if (auth != nullptr) {
    for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
      for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
        const std::string name(value.data(), value.size());
        if (std::find(client_names_.begin(), client_names_.end(), name) != client_names_.end()) {
          return absl::OkStatus();
        }
        if (seen.empty()) seen = name;
      }
    }
  }
  return absl::PermissionDeniedError(
      absl::StrCat("the client certificate (", seen.empty() ? "none" : "'" + seen + "'",
                   ") names none of the executor's --tls-client-name"));
}

grpc::ServerUnaryReactor* ExecutorService::Invoke(grpc::CallbackServerContext* context,
                                                  const v1::InvokeRequest* request,
                                                  v1::InvokeResponse* response) {
  work_calls_.fetch_add(1, std::memory_order_relaxed);
  auto* reactor = new InvokeReactor();
  if (absl::Status peer = CheckPeer(*context); !peer.ok()) {
    reactor->Finish(ToGrpcStatus(peer));
    return reactor;
  }
  CancelSignalPtr cancel = reactor->cancel();
  invoke_calls_.fetch_add(1, std::memory_order_relaxed);
  if (request->chain_size() > 0) chained_calls_.fetch_add(1, std::memory_order_relaxed);
  Serve("executor service: Invoke", reactor, response, [&](InvokeCallback done) {
    if (request->chain_size() > 0) {
      return RunChain(*executor_, common::RealClock::Get(), *request, std::move(done),
                      std::move(cancel));
    }
    executor_->Invoke(*request, std::move(done), std::move(cancel));
  });
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::LoadFunction(grpc::CallbackServerContext* context,
                                                        const v1::LoadFunctionRequest* request,
                                                        v1::LoadFunctionResponse* response) {
  work_calls_.fetch_add(1, std::memory_order_relaxed);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = CheckPeer(*context);
  if (valid.ok()) valid = functions::ValidateFunctionSpec(request->spec(), limits_);
  if (valid.ok() && !request->artifact_path().empty() && store_ == nullptr) {
    CountStoreLoad("no_store");
    valid = absl::UnimplementedError(
        "LoadFunction: this executor has no --artifact-store; send the artifact's bytes "
        "(artifact or LoadFunctionStream)");
  }
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  if (!request->artifact_path().empty()) {
    LoadFromStore(reactor, *request, response);
    return reactor;
  }
  Serve("executor service: LoadFunction", reactor, response,
        [&](LoadCallback done) { executor_->LoadFunction(*request, std::move(done)); });
  return reactor;
}

void ExecutorService::LoadFromStore(grpc::ServerUnaryReactor* reactor,
                                    v1::LoadFunctionRequest request,
                                    v1::LoadFunctionResponse* response) {
  {
    absl::MutexLock lock(&threads_mu_);
    ++store_threads_;
  }
  std::thread([this, reactor, request = std::move(request), response]() mutable {
    const std::string key = request.artifact_path();
    absl::StatusOr<std::string> path = store_->Resolve(key, request.spec().sha256());
    if (!path.ok()) {
      CountStoreLoad("refused");
      spdlog::warn("load of '{}' by store key refused: {}", request.spec().name(),
                   std::string(path.status().message()));
      reactor->Finish(ToGrpcStatus(absl::FailedPreconditionError(path.status().message())));
    } else {
      CountStoreLoad("ok");
      spdlog::info("loading '{}' from the artifact store: {}", request.spec().name(), *path);
      request.set_artifact_path(*std::move(path));
      Serve("executor service: LoadFunction (store)", reactor, response, [&](LoadCallback done) {
        executor_->LoadFunction(std::move(request), std::move(done));
      });
    }
    absl::MutexLock lock(&threads_mu_);
    --store_threads_;
  }).detach();
}

void ExecutorService::CountStoreLoad(const std::string& outcome) {
  if (store_loads_ != nullptr) store_loads_->Add({{"outcome", outcome}})->Increment();
}

void ExecutorService::SetArtifactStore(const ArtifactStore* store,
                                       common::metrics::Registry* metrics) {
  store_ = store;
  if (metrics != nullptr) {
    store_loads_ = &metrics->AddCounter(
        "stoa_executor_store_loads_total",
        "LoadFunction calls naming their artifact by store key, by outcome (ok, refused: the "
        "store refused the key and the client sends the bytes, no_store: no --artifact-store).");
  }
}

ExecutorService::~ExecutorService() {
  absl::MutexLock lock(&threads_mu_);
  threads_mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &store_threads_));
}

grpc::ServerReadReactor<v1::LoadFunctionChunk>* ExecutorService::LoadFunctionStream(
    grpc::CallbackServerContext* context, v1::LoadFunctionResponse* response) {
  work_calls_.fetch_add(1, std::memory_order_relaxed);
  return new LoadStreamReactor(executor_, limits_, spool_dir_, response, CheckPeer(*context));
}

grpc::ServerUnaryReactor* ExecutorService::UnloadFunction(grpc::CallbackServerContext* context,
                                                          const v1::UnloadFunctionRequest* request,
                                                          v1::UnloadFunctionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status peer = CheckPeer(*context); !peer.ok()) {
    reactor->Finish(ToGrpcStatus(peer));
    return reactor;
  }
  Serve("executor service: UnloadFunction", reactor, response,
        [&](UnloadCallback done) { executor_->UnloadFunction(*request, std::move(done)); });
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::GetStatus(grpc::CallbackServerContext* context,
                                                     const v1::GetStatusRequest* /*request*/,
                                                     v1::GetStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status peer = CheckPeer(*context); !peer.ok()) {
    reactor->Finish(ToGrpcStatus(peer));
    return reactor;
  }
  Serve("executor service: GetStatus", reactor, response, [&](StatusCallback done) {
    executor_->GetStatus([this, done = std::move(done)](absl::StatusOr<v1::GetStatusResponse> r) {
      if (r.ok()) {
        r->set_invoke_calls(invoke_calls_.load(std::memory_order_relaxed));
        r->set_chained_calls(chained_calls_.load(std::memory_order_relaxed));
      }
      done(std::move(r));
    });
  });
  return reactor;
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const std::string& listen,
                                                              grpc::Service* service,
                                                              Options options) {
  absl::StatusOr<ListenAddress> address = ParseListen(listen);
  if (!address.ok()) return address.status();
  if (options.health_service) grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Clients send keepalive pings (GrpcExecutor: every 20 s); accept them.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // Two executors must not silently share a port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int selected_port = 0;
  const bool unix_socket = !address->unix_path.empty();
  builder.AddListeningPort(
      listen,
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
      unix_socket ? nullptr : &selected_port);
  // A health-only server still needs a service of its own for gRPC to poll
  // its completion queue: the generic one answers UNIMPLEMENTED to the rest.
  auto unimplemented = std::make_unique<grpc::CallbackGenericService>();
  if (service != nullptr) {
    builder.RegisterService(service);
  } else {
    builder.RegisterCallbackGenericService(unimplemented.get());
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || (!unix_socket && selected_port == 0)) {
    if (server != nullptr) server->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on '", listen, "'"));
  }
  std::string bound = unix_socket ? listen
                                  : common::FormatHostPort(address->host_port.host,
                                                           static_cast<uint16_t>(selected_port));
  std::string service_name = options.health_service ? options.health_service_name : "";
  auto started = std::unique_ptr<GrpcServer>(new GrpcServer(
      std::move(server), std::move(bound), unix_socket ? 0 : selected_port, service_name));
  started->unimplemented_ = std::move(unimplemented);
  if (options.health_service) started->SetServing(true);
  return started;
}

void GrpcServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  if (!service_name_.empty()) health->SetServingStatus(service_name_, serving);
}

GrpcServer::~GrpcServer() { Shutdown(); }

void GrpcServer::Shutdown(int grace_ms) {
  if (shut_down_.exchange(true)) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
  server_->Wait();
}

}  // namespace stoa::executors
