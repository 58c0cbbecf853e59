#include "executors/grpc_executor.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/guarded.h"
#include "executors/artifact_store.h"
#include "executors/grpc_status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace stoa::executors {
namespace {

constexpr int kInitialReconnectBackoffMs = 100;
constexpr int kKeepaliveTimeMs = 20000;
constexpr int kKeepaliveTimeoutMs = 5000;

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const GrpcExecutor::Options& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // A refused or dropped connection is retried quickly and never waits more
  // than connect_timeout_ms; meanwhile calls fail fast with UNAVAILABLE.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              std::min(kInitialReconnectBackoffMs, options.connect_timeout_ms));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, options.connect_timeout_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, options.connect_timeout_ms);
  // Keepalive notices a peer that vanished without closing the connection.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  if (options.credentials == nullptr) {
    return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  }
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return grpc::CreateCustomChannel(target, options.credentials, args);
}

}  // namespace

template <typename Request, typename Response>
struct GrpcExecutor::Call {
  grpc::ClientContext context;
  Request request;
  Response response;
};

GrpcExecutor::GrpcExecutor(std::string target) : GrpcExecutor(std::move(target), Options()) {}

GrpcExecutor::GrpcExecutor(std::string target, Options options)
    : target_(std::move(target)),
      options_(options),
      channel_(MakeChannel(target_, options_)),
      stub_(v1::Executor::NewStub(channel_)) {}

GrpcExecutor::~GrpcExecutor() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  for (grpc::ClientContext* context : in_flight_) context->TryCancel();
  mu_.Await(absl::Condition(
      +[](int* pending) { return *pending == 0; }, &pending_callbacks_));
}

void GrpcExecutor::Register(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  in_flight_.insert(context);
  ++pending_callbacks_;
}

template <typename Request, typename Response, typename Method, typename Done>
void GrpcExecutor::Start(Method method, Request request, int64_t timeout_ms, Done done,
                         CancelSignalPtr cancel) {
  auto* call = new Call<Request, Response>();
  call->request = std::move(request);
  const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  call->context.set_deadline(deadline);
  Register(&call->context);
  if (cancel) {
    // TryCancel before the call starts is kept and applied when it does.
    cancel->SetHook([this, context = &call->context] {
      absl::MutexLock lock(&mu_);
      if (in_flight_.contains(context)) context->TryCancel();
    });
  }
  method(
      stub_->async(), &call->context, &call->request, &call->response,
      [this, call, done = std::move(done), cancel, deadline, timeout_ms](grpc::Status grpc_status) {
        absl::Status status = FromGrpcStatus(grpc_status);
        if (absl::IsDeadlineExceeded(status) && std::chrono::system_clock::now() >= deadline) {
          // Our own deadline (the budget + a margin) passed with no
          // answer: the executor or its link failed, not the function,
          // which the executor stops at the budget and reports itself.
          status = absl::UnavailableError(absl::StrCat("no answer within ", timeout_ms,
                                                       " ms: ", std::string(status.message())));
        }
        if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
          status = absl::Status(status.code(),
                                absl::StrCat(Describe(), ": ", std::string(status.message())));
        }
        Response response = std::move(call->response);
        if (cancel) cancel->ClearHook();
        {
          // Out of the set first, so the destructor never cancels a
          // context that is gone.
          absl::MutexLock lock(&mu_);
          in_flight_.erase(&call->context);
        }
        // The context holds a reference to the channel. It must go
        // before the destructor can drop channel_: if the last channel
        // reference died here, on gRPC's callback thread, gRPC 1.51 would
        // tear its callback queue down from inside that queue's own
        // thread and abort (grpc/grpc#32584).
        delete call;
        // gRPC swallows what a callback throws: the caller would never be
        // answered and this executor never destroyed.
        common::RunLogged("grpc executor callback", [&] {
          if (status.ok()) {
            done(std::move(response));
          } else {
            done(std::move(status));
          }
        });
        absl::MutexLock lock(&mu_);
        --pending_callbacks_;
      });
}

void GrpcExecutor::Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) {
  const int64_t timeout_ms = request.timeout_ms() > 0
                                 ? int64_t{request.timeout_ms()} + options_.deadline_margin_ms
                                 : options_.default_timeout_ms;
  Start<v1::InvokeRequest, v1::InvokeResponse>(
      [](auto* async, auto* context, auto* req, auto* resp, auto cb) {
        async->Invoke(context, req, resp, std::move(cb));
      },
      std::move(request), timeout_ms, std::move(done), std::move(cancel));
}

void GrpcExecutor::LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) {
  if (!request.artifact_path().empty()) {
    std::optional<std::string> key =
        store_refused_.load(std::memory_order_relaxed)
            ? std::nullopt
            : StoreKeyOf(options_.artifact_store, request.artifact_path(), request.spec().sha256());
    if (key) return LoadFromStoreOrStream(std::move(request), *std::move(key), std::move(done));
    return LoadFunctionStream(std::move(request), std::move(done));
  }
  LoadFunctionUnary(std::move(request), std::move(done));
}

void GrpcExecutor::LoadFunctionUnary(v1::LoadFunctionRequest request, LoadCallback done) {
  Start<v1::LoadFunctionRequest, v1::LoadFunctionResponse>(
      [](auto* async, auto* context, auto* req, auto* resp, auto cb) {
        async->LoadFunction(context, req, resp, std::move(cb));
      },
      std::move(request), options_.load_timeout_ms, std::move(done));
}

void GrpcExecutor::UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) {
  Start<v1::UnloadFunctionRequest, v1::UnloadFunctionResponse>(
      [](auto* async, auto* context, auto* req, auto* resp, auto cb) {
        async->UnloadFunction(context, req, resp, std::move(cb));
      },
      std::move(request), options_.default_timeout_ms, std::move(done));
}

void GrpcExecutor::GetStatus(StatusCallback done) {
  Start<v1::GetStatusRequest, v1::GetStatusResponse>(
      [](auto* async, auto* context, auto* req, auto* resp, auto cb) {
        async->GetStatus(context, req, resp, std::move(cb));
      },
      v1::GetStatusRequest(), options_.default_timeout_ms, std::move(done));
}

}  // namespace stoa::executors
