// An Executor runs functions on one tier. The gateway holds one per tier:
// the edge is an InProcessExecutor (or a GrpcExecutor on a Unix socket), the
// cloud a GrpcExecutor talking to a `stoa-executor` process.
//
// Every method is asynchronous: it returns at once and calls `done` exactly
// once, later, on a thread the executor owns (never the caller's thread for
// GrpcExecutor; possibly the caller's for trivial InProcessExecutor errors).
// A slow tier therefore never holds a gateway thread.
//
// Errors passed to `done`:
//  NOT_FOUND          Invoke of a function@sha256 the executor has not loaded
//                     (the caller pushes it with LoadFunction and retries);
//  INVALID_ARGUMENT   inputs that do not match the signature; a bad artifact;
//  DEADLINE_EXCEEDED  request.timeout_ms passed;
//  UNAVAILABLE        the executor cannot be reached (process down, link cut);
//  INTERNAL           the function failed;
//  CANCELLED          the caller cancelled the call (CancelSignal) before
//                     its result was ready.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "executors/cancel_signal.h"
#include "stoa/v1/executor.pb.h"

namespace stoa::executors {

using InvokeCallback = std::function<void(absl::StatusOr<v1::InvokeResponse>)>;
using LoadCallback = std::function<void(absl::StatusOr<v1::LoadFunctionResponse>)>;
using UnloadCallback = std::function<void(absl::StatusOr<v1::UnloadFunctionResponse>)>;
using StatusCallback = std::function<void(absl::StatusOr<v1::GetStatusResponse>)>;

class Executor {
 public:
  virtual ~Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Fills queue_us, exec_us, device (and load_us = 0: loading is separate).
  // `cancel` (nullable) lets the caller withdraw the call; see
  // cancel_signal.h for what an executor does with it.
  virtual void Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) = 0;
  void Invoke(v1::InvokeRequest request, InvokeCallback done) {
    Invoke(std::move(request), std::move(done), nullptr);
  }
  // Idempotent by sha256: loading bytes already loaded returns
  // already_loaded = true and load_us = 0.
  virtual void LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) = 0;
  virtual void UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) = 0;
  virtual void GetStatus(StatusCallback done) = 0;

  // For logs and errors: "in-process", "grpc:127.0.0.1:50051".
  virtual std::string Describe() const = 0;

 protected:
  Executor() = default;
};
using ExecutorPtr = std::unique_ptr<Executor>;

}  // namespace stoa::executors
