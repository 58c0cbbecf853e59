#include "tests/fakes/executors/scripted_executor.h"

#include <utility>

namespace stoa::executors::testing {

void ScriptedExecutor::set_invoke_status(absl::Status status) {
  absl::MutexLock lock(&mu_);
  invoke_status_ = std::move(status);
}

void ScriptedExecutor::set_status_error(absl::Status status) {
  absl::MutexLock lock(&mu_);
  status_error_ = std::move(status);
}

void ScriptedExecutor::set_queue_depth(int64_t depth) {
  absl::MutexLock lock(&mu_);
  queue_depth_ = depth;
}

int ScriptedExecutor::invoke_calls() const {
  absl::MutexLock lock(&mu_);
  return invoke_calls_;
}

void ScriptedExecutor::Invoke(v1::InvokeRequest request, InvokeCallback done,
                              CancelSignalPtr /*cancel*/) {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    ++invoke_calls_;
    status = invoke_status_;
    if (status.ok()) ++invocations_;
  }
  if (!status.ok()) return done(status);
  v1::InvokeResponse response;
  *response.mutable_outputs() = request.inputs();
  response.set_device("cpu");
  done(std::move(response));
}

void ScriptedExecutor::LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) {
  v1::LoadFunctionResponse response;
  *response.mutable_spec() = request.spec();
  done(std::move(response));
}

void ScriptedExecutor::UnloadFunction(v1::UnloadFunctionRequest /*request*/, UnloadCallback done) {
  v1::UnloadFunctionResponse response;
  response.set_unloaded(true);
  done(std::move(response));
}

void ScriptedExecutor::GetStatus(StatusCallback done) {
  v1::GetStatusResponse response;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    error = status_error_;
    response.set_queue_depth(static_cast<uint32_t>(queue_depth_));
    response.set_invocations(static_cast<uint64_t>(invocations_));
  }
  if (!error.ok()) return done(error);
  response.set_threads(1);
  response.set_device("cpu");
  done(std::move(response));
}

}  // namespace stoa::executors::testing
