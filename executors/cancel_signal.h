// CancelSignal: the caller's way to withdraw one Invoke it no longer needs
// (the losing run of a hedged invocation), shared by the caller and the
// executor running the call.
//
//   auto cancel = std::make_shared<CancelSignal>();
//   executor.Invoke(request, done, cancel);
//   ...
//   cancel->Cancel();   // `done` still runs exactly once: with CANCELLED,
//                       // or with the result if it was already on its way
//
// Executors react in one of two ways: poll cancelled() at a safe point
// (InProcessExecutor, before a queued call runs), or set a hook that
// cancels at once (GrpcExecutor: ClientContext::TryCancel, which reaches
// the server as a cancelled RPC). A signal may also be built over a
// predicate that says whether the call was cancelled elsewhere (the server
// side of a gRPC call: CallbackServerContext::IsCancelled).
//
// Thread safety: every method may be called concurrently. The hook runs
// under the signal's mutex, so once ClearHook returns the hook is neither
// running nor going to run; a hook must not call back into the signal.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"

namespace stoa::executors {

class CancelSignal {
 public:
  CancelSignal() = default;
  explicit CancelSignal(std::function<bool()> cancelled_elsewhere)
      : cancelled_elsewhere_(std::move(cancelled_elsewhere)) {}
  CancelSignal(const CancelSignal&) = delete;
  CancelSignal& operator=(const CancelSignal&) = delete;

  // Requests cancellation; idempotent. Runs the hook, if one is set.
  void Cancel() {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    if (hook_) hook_();
  }

  bool cancelled() const {
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return true;
    }
    return cancelled_elsewhere_ && cancelled_elsewhere_();
  }

  // Sets the executor's hook (replacing any); runs it at once when the
  // signal is already cancelled.
  void SetHook(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    hook_ = std::move(hook);
    if (cancelled_ && hook_) hook_();
  }

  // Drops the hook: the call it would cancel is over.
  void ClearHook() {
    absl::MutexLock lock(&mu_);
    hook_ = nullptr;
  }

 private:
  const std::function<bool()> cancelled_elsewhere_;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> hook_ ABSL_GUARDED_BY(mu_);
};
using CancelSignalPtr = std::shared_ptr<CancelSignal>;

}  // namespace stoa::executors
