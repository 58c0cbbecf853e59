// Tiered compilation for the `wasm` runtime (wasm_runtime.h, kAuto): a
// function whose compiled code is not in the AOT cache yet is served at once
// by the interpreter, while wasm2c + cc build the optimized code on a
// background thread; when it is ready it is swapped in, and later calls run
// it. A call in flight keeps the code it started with (it holds its own
// reference), so the swap never changes a running invocation.
//
// AotSlot is the per-function cell the swap goes through: which code serves
// the function now (null: the interpreter), and how the background compile
// ended. StartBackgroundCompile runs one compile on a detached thread that
// owns everything it touches (the artifact copy, the slot, the runtime's
// shared counters), so the function may be destroyed while it runs (the
// result then only goes to the cache). The runtime's destructor cancels
// every background compile (its tools are killed, AotTierShared::
// CancelAndWait) and waits for them, so none runs on into process exit.
//
// A compile that fails (no toolchain, a module wasm2c cannot translate, a
// sandbox limit) keeps the interpreter serving: the slot records the error
// (AotSlot::error), a warning is logged, and the runtime remembers the
// module (by the object's cache path) so that a later Load of it in this
// process goes to the interpreter at once instead of compiling again.
//
// Thread safety: every member may be used from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "functions/wasm/aot_compiler.h"
#include "functions/wasm/aot_engine.h"

namespace stoa::functions::wasm {

// Which code serves a function.
class AotSlot {
 public:
  // The compiled module serving now; null while the interpreter serves.
  std::shared_ptr<const AotModule> code() const { return code_.load(std::memory_order_acquire); }
  void Publish(std::shared_ptr<const AotModule> code) {
    code_.store(std::move(code), std::memory_order_release);
  }

  // Marks the background compile finished (ok: code published; else the
  // error that keeps the interpreter serving).
  void Finish(absl::Status status);
  // True when no compile is pending or it finished within `timeout`.
  bool WaitFinished(absl::Duration timeout) const;
  void MarkPending() { pending_.store(true); }
  // The background compile's error ("" while pending or after success).
  std::string error() const;

 private:
  std::atomic<std::shared_ptr<const AotModule>> code_;
  std::atomic<bool> pending_{false};
  absl::Notification finished_;
  mutable absl::Mutex mu_;
  std::string error_ ABSL_GUARDED_BY(mu_);
};

// Counters and the failed-compile memory shared by a runtime and its
// background compiles.
struct AotTierShared {
  std::atomic<uint64_t> aot_compiled{0};
  std::atomic<uint64_t> aot_cache_hits{0};
  std::atomic<uint64_t> interp_fallbacks{0};
  std::atomic<uint64_t> interp_loads{0};
  std::atomic<uint64_t> background_compiles{0};  // started
  std::atomic<uint64_t> tier_swaps{0};           // interpreter -> AOT while serving
  std::atomic<double> last_compile_ms{0};

  // Set by the runtime's destructor: background compiles stop (their tools
  // are killed) and CancelAndWait returns when none runs any more.
  const std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  void Begin();
  void End();
  void CancelAndWait();

  // The error of an earlier failed compile of the object at `path`, if any.
  std::optional<std::string> FailedBefore(const std::string& path) const;
  void RememberFailure(const std::string& path, std::string error);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> failed_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
};

// Compiles `artifact` on a detached thread and publishes the result into
// `slot` (see the header comment). `function` names it in logs;
// `object_path` (ProbeAotCache's) is what a failure is remembered by.
void StartBackgroundCompile(std::string artifact, ModuleInfo info, AotToolchain toolchain,
                            std::string function, std::string object_path,
                            std::shared_ptr<AotSlot> slot, std::shared_ptr<AotTierShared> shared);

}  // namespace stoa::functions::wasm
