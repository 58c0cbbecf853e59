// InProcessExecutor runs functions inside this process on a fixed thread
// pool. It is the edge tier of the gateway, and the backend of the
// `stoa-executor` server (ExecutorService wraps one).
//
// Functions are keyed by (name, sha256) and held by shared_ptr, so an Invoke
// never holds the map lock while the function runs, and an UnloadFunction
// that races with a running Invoke lets that Invoke finish.
//
// Invoke:
//  - request.sha256 empty means "the version of `function` loaded last";
//  - NOT_FOUND "function 'x' version <sha> is not loaded" (reported at once,
//    on the caller's thread) when absent;
//  - the deadline is request.timeout_ms, else the spec's limits.timeout_ms,
//    else none; it is measured from the Invoke call on Options::clock. A
//    request still queued when it passes fails DEADLINE_EXCEEDED without
//    running; a running one gets what is left of it as
//    InvocationInput::budget_us, and a result that arrives after it is
//    DEADLINE_EXCEEDED too (a remote caller would have given up by then);
//  - refused at once, before queuing, with RESOURCE_EXHAUSTED naming the
//    limit when the queue is full or too slow for the deadline
//    (executors/queue_admission.h; on the caller's thread);
//  - the response carries queue_us (enqueue → start), exec_us, device,
//    queue_depth (invocations still queued when this one started), load_us 0.
//  - functions whose spec has batching.max_batch > 1 go through a Batcher
//    (executors/batching_queue.h): concurrent requests with the same
//    non-batch shapes are stacked on the first dimension and run once,
//    waiting at most batching.max_delay_us for the batch to fill. Their
//    queue_us includes that wait; exec_us is the whole batch's run.
//
// LoadFunction: INVALID_ARGUMENT when spec.sha256 is set and differs from the
// artifact's SHA-256, or when the runtime refuses the artifact. Loading bytes
// already loaded under that name is a no-op (already_loaded = true,
// load_us = 0). Otherwise the runtime loads on a pool thread and load_us is
// the wall time of hashing and loading (not the wait for a pool thread). The response spec has
// sha256 and the signature the runtime derived.
//
// Metrics (when a registry is given):
//   stoa_executor_invocations_total{function,outcome}  counter; outcome is
//       "ok" or the lower-case status code ("deadline_exceeded", ...)
//   stoa_executor_exec_seconds{function}               histogram, successful runs
//   stoa_executor_queue_seconds{function}              histogram, time queued
//   stoa_executor_loads_total{function,outcome}        counter
//   stoa_executor_load_seconds{function}               histogram, real loads only
//   stoa_executor_pending                              gauge, invocations queued
// A series carries a function's name only while some version of it is
// loaded here: invocations of names not loaded (NOT_FOUND), failed loads of
// names not loaded, and runs that end after their function was unloaded
// count under function="" — callers cannot create series at will. When the
// last version of a name is unloaded, its series are removed.
//
// Thread safety: every method may be called concurrently. Invoke and
// LoadFunction call back on pool threads (Invoke's NOT_FOUND and
// LoadFunction's empty-name error on the caller's thread). UnloadFunction
// and GetStatus are cheap and call back on the caller's thread, so a busy
// pool never delays the scheduler's view of the tier.
// Ownership: `runtimes`, `metrics` and Options::clock must outlive the
// executor. The
// destructor runs every request already queued (calling its callback) and
// then joins the pool.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/cgroup_cpu.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/thread_pool.h"
#include "executors/executor.h"
#include "functions/function_runtime.h"

namespace stoa::executors {

class InProcessExecutor final : public Executor {
 public:
  struct Options {
    // Worker threads; 0 means std::thread::hardware_concurrency().
    size_t threads = 0;
    // Where kernels run, reported in responses and GetStatus: "cpu" | "cuda".
    std::string device = "cpu";
    // A human-readable name of the device (CPU model, probed GPU).
    std::string device_name;
    // Invocations queued for a worker at most; past it, or when the queue
    // ahead cannot be served before the deadline, Invoke is refused at once
    // (executors/queue_admission.h). 0: 4 per worker thread.
    size_t max_queue = 0;
    // What queue and run times and deadlines are measured on (never null);
    // it must outlive the executor.
    const common::Clock* clock = &common::RealClock::Get();
    // The operator's limits (docs/limits.md); 0 turns one off. Enforced
    // here because this class is the backend of both tiers, so the edge and
    // the cloud refuse with the same words:
    //  - max_timeout_ms: InvokeRequest.timeout_ms and the spec's
    //    limits.timeout_ms above it are INVALID_ARGUMENT;
    //  - max_artifact_bytes: a larger LoadFunction artifact is OUT_OF_RANGE;
    //  - max_output_bytes: a run whose raw output or tensor bytes are larger
    //    fails RESOURCE_EXHAUSTED (common::OutputTooLarge; HTTP 507); Wasm stdout is cut
    //    just past it (InvocationInput::max_output_bytes).
    uint32_t max_timeout_ms = 0;
    uint64_t max_artifact_bytes = 0;
    uint64_t max_output_bytes = 0;
  };

  InProcessExecutor(const functions::RuntimeSet& runtimes, Options options,
                    common::metrics::Registry* metrics /* nullable */);
  ~InProcessExecutor() override;

  using Executor::Invoke;
  // A call cancelled while it waits for a worker does not run (CANCELLED);
  // one already running gets the signal as InvocationInput::cancel and its
  // runtime stops it at the next safe point (CANCELLED); a batched one runs
  // to the end.
  void Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) override;
  void LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) override;
  void UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) override;
  void GetStatus(StatusCallback done) override;
  std::string Describe() const override { return "in-process"; }

 private:
  struct Entry;  // one loaded function version
  using EntryPtr = std::shared_ptr<Entry>;

  // nullptr when not loaded; empty sha256 means the latest loaded version.
  EntryPtr Find(const std::string& function, const std::string& sha256) const;
  void RunInvocation(const EntryPtr& entry, v1::InvokeRequest request, int64_t enqueued_us,
                     int64_t deadline_us, const CancelSignalPtr& cancel, InvokeCallback done);
  // `artifact_path` non-empty: the artifact is that file (LoadFunctionRequest::artifact_path).
  void RunLoad(v1::FunctionSpec spec, std::string artifact, std::string artifact_path,
               LoadCallback done);
  // The artifact size and timeout limits of Options, for LoadFunction.
  absl::Status CheckLoadLimits(const v1::LoadFunctionRequest& request) const;
  // A loaded function's entry, with its batcher when the spec batches.
  EntryPtr MakeEntry(const std::string& name, const std::string& sha,
                     functions::LoadedFunctionPtr fn);
  // Adds `entry` unless a concurrent load of the same version won.
  v1::LoadFunctionResponse Install(EntryPtr entry, int64_t load_us);
  // The entry's metric handles, and its load time observed; under mu_, so
  // an unload of the name (which removes its series) is ordered with it.
  void AddSeries(Entry& entry, int64_t load_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveSeries(const std::string& function) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordOutcome(const Entry& entry, const absl::Status& status);
  // Counts `status` in `family` (nullable) under {function, outcome}, with
  // function "" unless `function` is loaded. Takes mu_.
  void Count(common::metrics::Family<common::metrics::Counter>* family, const std::string& function,
             const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  void RecordExecTime(int64_t exec_us);
  // OK, or why `entry` may not be queued now (queue_admission.h).
  absl::Status AdmitToQueue(const Entry& entry, int64_t budget_us) const;
  void InvokeBatched(const EntryPtr& entry, v1::InvokeRequest request, int64_t enqueued_us,
                     int64_t deadline_us, InvokeCallback done);
  // Metrics, the late-result deadline check and the response of one run.
  void Finish(Entry& entry, absl::StatusOr<functions::InvocationOutput> output, int64_t queue_us,
              int64_t exec_us, int64_t end_us, int64_t deadline_us, int64_t depth,
              InvokeCallback done);

  const functions::RuntimeSet& runtimes_;
  const Options options_;
  common::metrics::Registry* const metrics_;
  const common::Clock& clock_;
  common::CpuThrottleMeter throttle_meter_;  // GetStatus's cpu_throttled

  mutable absl::Mutex mu_;
  // function name → sha256 → entry.
  std::map<std::string, std::map<std::string, EntryPtr>> functions_ ABSL_GUARDED_BY(mu_);
  uint64_t load_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  double ewma_exec_us_ ABSL_GUARDED_BY(mu_) = 0.0;

  std::atomic<uint64_t> invocations_{0};
  std::atomic<int64_t> queued_{0};   // invocations waiting for a worker
  std::atomic<int64_t> running_{0};  // unbatched invocations running
  common::metrics::GaugePtr pending_gauge_;
  // The families above (null without a registry).
  common::metrics::Family<common::metrics::Counter>* invocations_total_ = nullptr;
  common::metrics::Family<common::metrics::Histogram>* exec_seconds_ = nullptr;
  common::metrics::Family<common::metrics::Histogram>* queue_seconds_ = nullptr;
  common::metrics::Family<common::metrics::Counter>* loads_total_ = nullptr;
  common::metrics::Family<common::metrics::Histogram>* load_seconds_ = nullptr;

  // Last member: destroyed first, so the queued work it drains still sees
  // every other member alive.
  common::ThreadPool pool_;
};

}  // namespace stoa::executors
