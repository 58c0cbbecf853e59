// CancelSignal: the caller's way to withdraw work it no longer needs (the
// losing run of a hedged invocation, a request whose client disconnected,
// calls still running when a shutdown's grace period ends), shared by the
// caller and whoever runs the work: the HTTP server fires it when a client
// closes its connection before the answer (HttpRequest::cancel), executors
// carry it across gRPC, and runtimes stop a running function at their next
// safe point (InvocationInput::cancel).
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

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"

namespace stoa::common {

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
    if (cancelled_.load(std::memory_order_relaxed)) return;
    cancelled_.store(true, std::memory_order_release);
    if (hook_) hook_();
    for (auto& [id, hook] : extra_hooks_) hook();
  }

  // Cheap enough to poll between an ONNX model's nodes: one atomic load
  // (plus the predicate, for a signal built over one).
  bool cancelled() const {
    if (cancelled_.load(std::memory_order_acquire)) return true;
    return cancelled_elsewhere_ && cancelled_elsewhere_();
  }

  // Sets the executor's hook (replacing any); runs it at once when the
  // signal is already cancelled.
  void SetHook(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    hook_ = std::move(hook);
    if (cancelled_.load(std::memory_order_relaxed) && hook_) hook_();
  }

  // Drops the hook: the call it would cancel is over.
  void ClearHook() {
    absl::MutexLock lock(&mu_);
    hook_ = nullptr;
  }

  // More hooks, beside the executor's (a runtime stopping a running Wasm
  // instance, say): AddHook runs `hook` at once when already cancelled and
  // returns an id for RemoveHook, after which the hook neither runs nor is
  // running. Const: listening does not change the signal, and runtimes hold
  // it as `const CancelSignal*` (InvocationInput::cancel).
  uint64_t AddHook(std::function<void()> hook) const {
    absl::MutexLock lock(&mu_);
    const uint64_t id = ++next_hook_id_;
    if (cancelled_.load(std::memory_order_relaxed)) hook();
    extra_hooks_.emplace(id, std::move(hook));
    return id;
  }
  void RemoveHook(uint64_t id) const {
    absl::MutexLock lock(&mu_);
    extra_hooks_.erase(id);
  }

 private:
  const std::function<bool()> cancelled_elsewhere_;
  mutable absl::Mutex mu_;
  std::atomic<bool> cancelled_{false};  // written under mu_
  std::function<void()> hook_ ABSL_GUARDED_BY(mu_);
  mutable std::map<uint64_t, std::function<void()>> extra_hooks_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t next_hook_id_ ABSL_GUARDED_BY(mu_) = 0;
};
using CancelSignalPtr = std::shared_ptr<CancelSignal>;

}  // namespace stoa::common
