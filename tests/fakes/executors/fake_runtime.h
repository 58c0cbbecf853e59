// A small real FunctionRuntime for executor tests, named "fake".
//
// Artifact text: "bad" is refused (INVALID_ARGUMENT); "sleep=<ms>" makes every
// invocation sleep that long first (stopping early with DEADLINE_EXCEEDED
// if the deadline passes); anything else is a plain function. Every function
// takes one FP32 input "x" of any shape and returns "y" = x + 1.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "functions/function_runtime.h"
#include "stoa/v1/executor.pb.h"

namespace stoa::executors::testing {

class FakeRuntime final : public functions::FunctionRuntime {
 public:
  std::string_view name() const override { return "fake"; }
  absl::StatusOr<functions::LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                                    std::string_view artifact) override;
  int loads() const { return loads_.load(); }

 private:
  std::atomic<int> loads_{0};
};

// A RuntimeSet holding one FakeRuntime; `runtime` (optional) receives a
// pointer to it.
functions::RuntimeSet FakeRuntimes(FakeRuntime** runtime = nullptr);

// A one-dimensional FP32 tensor.
v1::Tensor FloatTensor(const std::string& name, const std::vector<float>& values);
std::vector<float> FloatValues(const v1::Tensor& tensor);

// A LoadFunctionRequest for the fake runtime.
v1::LoadFunctionRequest FakeLoadRequest(const std::string& name, const std::string& artifact);

// "127.0.0.1:PORT" for a loopback port nothing listens on (bound, then
// closed).
std::string ClosedLoopbackAddress();

// Starts an asynchronous call with a callback and waits (up to 10 s) for it:
//   auto r = Await<v1::InvokeResponse>([&](auto done) { ex.Invoke(req, done); });
template <typename T, typename StartFn>
absl::StatusOr<T> Await(StartFn start) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> future = promise->get_future();
  start([promise](absl::StatusOr<T> result) { promise->set_value(std::move(result)); });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return absl::DeadlineExceededError("test: no callback within 10 s");
  }
  return future.get();
}

// Starts an asynchronous call with a callback and returns its future:
//   auto f = Later<v1::InvokeResponse>([&](auto done) { ex.Invoke(req, done); });
template <typename T, typename StartFn>
std::future<absl::StatusOr<T>> Later(StartFn start) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> future = promise->get_future();
  start([promise](absl::StatusOr<T> result) { promise->set_value(std::move(result)); });
  return future;
}

}  // namespace stoa::executors::testing
