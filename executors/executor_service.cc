#include "executors/executor_service.h"

#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "executors/grpc_status.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

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

struct ListenAddress {
  bool unix_socket = false;
  std::string host;  // or the socket path
  int port = 0;
};

absl::StatusOr<ListenAddress> ParseListen(const std::string& listen) {
  ListenAddress address;
  if (absl::StartsWith(listen, "unix:")) {
    address.unix_socket = true;
    address.host = listen.substr(5);
    if (address.host.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("listen address '", listen, "' has no socket path"));
    }
    return address;
  }
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", listen, "' must be HOST:PORT or unix:PATH"));
  }
  address.host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (!absl::SimpleAtoi(port_text, &address.port) || address.port < 0 || address.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", listen, "' has a bad port '", port_text, "'"));
  }
  return address;
}

}  // namespace

grpc::ServerUnaryReactor* ExecutorService::Invoke(grpc::CallbackServerContext* context,
                                                  const v1::InvokeRequest* request,
                                                  v1::InvokeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // A client that cancels (a gateway whose hedged twin already answered)
  // spares the backend the work if it is still queued. The context lives
  // until Finish, i.e. as long as the backend may ask.
  auto cancel = std::make_shared<CancelSignal>([context] { return context->IsCancelled(); });
  executor_->Invoke(
      *request,
      [reactor, response](absl::StatusOr<v1::InvokeResponse> result) {
        Finish(reactor, response, std::move(result));
      },
      std::move(cancel));
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::LoadFunction(grpc::CallbackServerContext* context,
                                                        const v1::LoadFunctionRequest* request,
                                                        v1::LoadFunctionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  executor_->LoadFunction(*request,
                          [reactor, response](absl::StatusOr<v1::LoadFunctionResponse> result) {
                            Finish(reactor, response, std::move(result));
                          });
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::UnloadFunction(grpc::CallbackServerContext* context,
                                                          const v1::UnloadFunctionRequest* request,
                                                          v1::UnloadFunctionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  executor_->UnloadFunction(*request,
                            [reactor, response](absl::StatusOr<v1::UnloadFunctionResponse> result) {
                              Finish(reactor, response, std::move(result));
                            });
  return reactor;
}

grpc::ServerUnaryReactor* ExecutorService::GetStatus(grpc::CallbackServerContext* context,
                                                     const v1::GetStatusRequest* /*request*/,
                                                     v1::GetStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  executor_->GetStatus([reactor, response](absl::StatusOr<v1::GetStatusResponse> result) {
    Finish(reactor, response, std::move(result));
  });
  return reactor;
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const std::string& listen,
                                                              grpc::Service* service,
                                                              Options options) {
  absl::StatusOr<ListenAddress> address = ParseListen(listen);
  if (!address.ok()) return address.status();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Clients send keepalive pings (GrpcExecutor: every 20 s); accept them.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // Two executors must not silently share a port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int selected_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(),
                           address->unix_socket ? nullptr : &selected_port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || (!address->unix_socket && selected_port == 0)) {
    if (server != nullptr) server->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on '", listen, "'"));
  }
  std::string bound =
      address->unix_socket ? listen : absl::StrCat(address->host, ":", selected_port);
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(server), std::move(bound),
                                                    address->unix_socket ? 0 : selected_port));
}

GrpcServer::~GrpcServer() { Shutdown(); }

void GrpcServer::Shutdown(int grace_ms) {
  if (shut_down_.exchange(true)) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
  server_->Wait();
}

}  // namespace stoa::executors
