// A small real FunctionRuntime for executor tests, named "fake".
//
// Artifact text: "bad" is refused (INVALID_ARGUMENT); "sleep=<ms>" makes every
// invocation take that long first (stopping early with DEADLINE_EXCEEDED
// when its budget runs out); anything else is a plain function. Every
// function takes one FP32 input "x" of any shape and returns "y" = x + 1.
//
// Time: with a FakeClock, "sleep" advances that clock instead of sleeping
// (by the budget, then DEADLINE_EXCEEDED, when the budget is shorter), so
// executor tests run without real time. Hold() makes invocations wait at
// their start until Release(), so a test can keep a worker busy for as
// long as it needs, deterministically.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "functions/function_runtime.h"
#include "stoa/v1/executor.pb.h"

namespace stoa::executors::testing {

// Invocations of a FakeRuntime's functions pass through its gate.
class FakeGate {
 public:
  void Hold();
  void Release();
  // Blocks until `n` invocations are waiting at (or past) a held gate.
  void WaitUntilArrived(int n);
  // Called by each invocation at its start.
  void Pass();

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
};

class FakeRuntime final : public functions::FunctionRuntime {
 public:
  // `clock` (nullable): see the file comment. `name`: the runtime name it
  // registers under ("wasm" where a spec must pass functions/spec_rules.h,
  // as over ExecutorService).
  explicit FakeRuntime(common::FakeClock* clock = nullptr, std::string name = "fake")
      : clock_(clock), name_(std::move(name)) {}

  std::string_view name() const override { return name_; }
  absl::StatusOr<functions::LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                                    std::string_view artifact) override;
  int loads() const { return loads_.load(); }
  FakeGate& gate() { return *gate_; }

 private:
  common::FakeClock* const clock_;
  const std::string name_;
  const std::shared_ptr<FakeGate> gate_ = std::make_shared<FakeGate>();
  std::atomic<int> loads_{0};
};

// A RuntimeSet holding one FakeRuntime on `clock` (nullable); `runtime`
// (optional) receives a pointer to it.
functions::RuntimeSet FakeRuntimes(FakeRuntime** runtime = nullptr,
                                   common::FakeClock* clock = nullptr,
                                   const std::string& name = "fake");

// A one-dimensional FP32 tensor.
v1::Tensor FloatTensor(const std::string& name, const std::vector<float>& values);
std::vector<float> FloatValues(const v1::Tensor& tensor);

// A LoadFunctionRequest for the fake runtime (registered as `runtime`).
v1::LoadFunctionRequest FakeLoadRequest(const std::string& name, const std::string& artifact,
                                        const std::string& runtime = "fake");

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
