// ScriptedExecutor: a small real Executor whose answers the test sets. Every
// call is answered at once on the caller's thread, so a test drives a pool
// deterministically (no threads, no sleeps).
//
//   Invoke          the scripted invoke status; when OK, echoes the inputs.
//   LoadFunction    OK (already_loaded = false).
//   UnloadFunction  OK (unloaded = true).
//   GetStatus       the scripted status error, else queue_depth as set,
//                   threads = 1 and the number of invocations answered OK.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "executors/executor.h"

namespace stoa::executors::testing {

class ScriptedExecutor final : public Executor {
 public:
  // `name` is what Describe() returns.
  explicit ScriptedExecutor(std::string name) : name_(std::move(name)) {}

  void set_invoke_status(absl::Status status);
  void set_status_error(absl::Status status);
  void set_queue_depth(int64_t depth);
  // Invoke calls received, whatever their answer.
  int invoke_calls() const;

  using Executor::Invoke;
  void Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) override;
  void LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) override;
  void UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) override;
  void GetStatus(StatusCallback done) override;
  std::string Describe() const override { return name_; }

 private:
  const std::string name_;
  mutable absl::Mutex mu_;
  absl::Status invoke_status_ ABSL_GUARDED_BY(mu_);
  absl::Status status_error_ ABSL_GUARDED_BY(mu_);
  int64_t queue_depth_ ABSL_GUARDED_BY(mu_) = 0;
  int invoke_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int invocations_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stoa::executors::testing
