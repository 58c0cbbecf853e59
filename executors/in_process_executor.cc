#include "executors/in_process_executor.h"

#include <exception>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/cgroup_cpu.h"
#include "common/guarded.h"
#include "common/http_status.h"
#include "common/request_limits.h"
#include "executors/batching_queue.h"
#include "executors/in_process_entry.h"
#include "executors/queue_admission.h"

namespace stoa::executors {
namespace {

constexpr double kEwmaAlpha = 0.2;

size_t ThreadsOrDefault(size_t threads) {
  if (threads > 0) return threads;
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}

std::string VersionText(const std::string& sha256) { return sha256.empty() ? "(any)" : sha256; }

// The request's payload as an invocation input (moved out of the request).
functions::InvocationInput TakeInput(v1::InvokeRequest& request) {
  functions::InvocationInput input;
  input.tensors.reserve(request.inputs_size());
  for (auto& t : *request.mutable_inputs()) input.tensors.push_back(std::move(t));
  input.raw = std::move(*request.mutable_raw());
  input.part = request.split_part() == v1::SPLIT_PART_PREFIX   ? functions::GraphPart::kPrefix
               : request.split_part() == v1::SPLIT_PART_SUFFIX ? functions::GraphPart::kSuffix
                                                               : functions::GraphPart::kWhole;
  input.split_cut = request.split_cut();
  return input;
}

// The one place a function runs: a runtime that throws (it should return a
// Status) fails this invocation, not the process.
absl::StatusOr<functions::InvocationOutput> InvokeGuarded(functions::LoadedFunction& fn,
                                                          const std::string& name,
                                                          const functions::InvocationInput& input) {
  try {
    return fn.Invoke(input);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("function '", name, "' threw an exception: ", e.what()));
  }
}

// RESOURCE_EXHAUSTED naming the output size limit when `output` is over max_bytes (0:
// no limit). Wasm stdout is cut at max_bytes + 1, so its size is a lower
// bound.
absl::Status CheckOutputSize(const std::string& function, const functions::InvocationOutput& output,
                             uint64_t max_bytes) {
  if (max_bytes == 0) return absl::OkStatus();
  if (output.raw.size() > max_bytes) {
    return common::OutputTooLarge(function, "output", max_bytes, max_bytes, true);
  }
  uint64_t bytes = output.raw.size();
  for (const v1::Tensor& t : output.tensors) bytes += t.raw().size();
  if (bytes > max_bytes) return common::OutputTooLarge(function, "output", bytes, max_bytes);
  return absl::OkStatus();
}

}  // namespace

InProcessExecutor::InProcessExecutor(const functions::RuntimeSet& runtimes, Options options,
                                     common::metrics::Registry* metrics)
    : runtimes_(runtimes),
      options_(std::move(options)),
      metrics_(metrics),
      clock_(*options_.clock),
      pool_(ThreadsOrDefault(options_.threads)) {
  if (metrics_ != nullptr) {
    pending_gauge_ = metrics_
                         ->AddGauge("stoa_executor_pending",
                                    "Invocations queued for a worker thread of this executor.")
                         .Add({});
    invocations_total_ = &metrics_->AddCounter("stoa_executor_invocations_total",
                                               "Invocations run by this executor.");
    exec_seconds_ = &metrics_->AddHistogram("stoa_executor_exec_seconds",
                                            "Execution time of successful invocations.");
    queue_seconds_ =
        &metrics_->AddHistogram("stoa_executor_queue_seconds", "Time invocations spent queued.");
    loads_total_ =
        &metrics_->AddCounter("stoa_executor_loads_total", "Function loads by this executor.");
    load_seconds_ =
        &metrics_->AddHistogram("stoa_executor_load_seconds", "Time taken to load a function.");
  }
}

InProcessExecutor::~InProcessExecutor() {
  // Batchers hand their pending batches to pool_, so they go while it lives.
  std::vector<EntryPtr> entries;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, versions] : functions_) {
      for (auto& [sha, entry] : versions) entries.push_back(entry);
    }
  }
  for (const EntryPtr& entry : entries) entry->batcher.reset();
}

InProcessExecutor::EntryPtr InProcessExecutor::Find(const std::string& function,
                                                    const std::string& sha256) const {
  absl::MutexLock lock(&mu_);
  auto it = functions_.find(function);
  if (it == functions_.end() || it->second.empty()) return nullptr;
  if (!sha256.empty()) {
    auto v = it->second.find(sha256);
    return v == it->second.end() ? nullptr : v->second;
  }
  EntryPtr latest;
  for (const auto& [sha, entry] : it->second) {
    if (latest == nullptr || entry->sequence > latest->sequence) latest = entry;
  }
  return latest;
}

void InProcessExecutor::RecordOutcome(const Entry& entry, const absl::Status& status) {
  if (status.ok() && entry.ok_counter != nullptr) {
    entry.ok_counter->Increment();
    return;
  }
  Count(invocations_total_, entry.function, status);
}

void InProcessExecutor::Count(common::metrics::Family<common::metrics::Counter>* family,
                              const std::string& function, const absl::Status& status) {
  if (family == nullptr) return;
  absl::MutexLock lock(&mu_);
  // Only a loaded name labels a series: unknown names would grow the
  // exposition without bound, and UnloadFunction (under mu_) removes these.
  family
      ->Add({{"function", functions_.contains(function) ? function : std::string()},
             {"outcome", common::OutcomeLabel(status)}})
      ->Increment();
}

void InProcessExecutor::RemoveSeries(const std::string& function) {
  if (metrics_ == nullptr) return;
  invocations_total_->RemoveMatching("function", function);
  exec_seconds_->RemoveMatching("function", function);
  queue_seconds_->RemoveMatching("function", function);
  loads_total_->RemoveMatching("function", function);
  load_seconds_->RemoveMatching("function", function);
}

void InProcessExecutor::RecordExecTime(int64_t exec_us) {
  absl::MutexLock lock(&mu_);
  const double us = static_cast<double>(exec_us);
  ewma_exec_us_ = ewma_exec_us_ == 0.0 ? us : kEwmaAlpha * us + (1 - kEwmaAlpha) * ewma_exec_us_;
}

absl::Status InProcessExecutor::AdmitToQueue(const Entry& entry, int64_t budget_us) const {
  QueueState state;
  state.queued = queued_.load(std::memory_order_relaxed);
  state.running = running_.load(std::memory_order_relaxed);
  state.workers = pool_.size();
  state.max_queue = options_.max_queue;
  {
    absl::MutexLock lock(&mu_);
    state.mean_service_us = ewma_exec_us_;
  }
  return executors::AdmitToQueue(state, entry.function, budget_us);
}

void InProcessExecutor::Invoke(v1::InvokeRequest request, InvokeCallback done,
                               CancelSignalPtr cancel) {
  const int64_t enqueued_us = clock_.NowMicros();
  if (options_.max_timeout_ms != 0) {
    if (auto s = common::CheckTimeoutMs(request.timeout_ms(), options_.max_timeout_ms,
                                        "InvokeRequest.timeout_ms");
        !s.ok()) {
      done(std::move(s));
      return;
    }
  }
  EntryPtr entry = Find(request.function(), request.sha256());
  if (entry == nullptr) {
    absl::Status status =
        absl::NotFoundError(absl::StrCat("function '", request.function(), "' version ",
                                         VersionText(request.sha256()), " is not loaded"));
    Count(invocations_total_, request.function(), status);
    done(std::move(status));
    return;
  }
  uint32_t timeout_ms = request.timeout_ms();
  if (timeout_ms == 0) timeout_ms = entry->fn->spec().limits().timeout_ms();
  const int64_t deadline_us =
      timeout_ms == 0 ? 0 : enqueued_us + static_cast<int64_t>(timeout_ms) * 1000;
  // A batched call waits for its batch, not for a worker: the batcher bounds it.
  // Split parts (docs/split.md) are never batched.
  const bool batched = entry->batcher != nullptr && request.split_part() == v1::SPLIT_PART_WHOLE;
  if (absl::Status refused =
          batched ? absl::OkStatus() : AdmitToQueue(*entry, int64_t{timeout_ms} * 1000);
      !refused.ok()) {
    RecordOutcome(*entry, refused);
    done(std::move(refused));
    return;
  }
  queued_.fetch_add(1, std::memory_order_relaxed);
  if (pending_gauge_ != nullptr) pending_gauge_->Increment();
  if (batched) {
    InvokeBatched(entry, std::move(request), enqueued_us, deadline_us, std::move(done));
    return;
  }
  pool_.Schedule([this, entry = std::move(entry), request = std::move(request), enqueued_us,
                  deadline_us, cancel = std::move(cancel), done = std::move(done)]() mutable {
    common::GuardedAnswer<absl::StatusOr<v1::InvokeResponse>>(
        "in-process executor: invocation", std::move(done), [&](InvokeCallback answer) {
          RunInvocation(entry, std::move(request), enqueued_us, deadline_us, cancel,
                        std::move(answer));
        });
  });
}

void InProcessExecutor::RunInvocation(const EntryPtr& entry, v1::InvokeRequest request,
                                      int64_t enqueued_us, int64_t deadline_us,
                                      const CancelSignalPtr& cancel, InvokeCallback done) {
  const int64_t start_us = clock_.NowMicros();
  const int64_t depth = queued_.fetch_sub(1, std::memory_order_relaxed) - 1;
  if (pending_gauge_ != nullptr) pending_gauge_->Decrement();
  const int64_t queue_us = start_us - enqueued_us;
  if (entry->queue_seconds != nullptr) entry->queue_seconds->Observe(queue_us / 1e6);

  if (cancel && cancel->cancelled()) {
    absl::Status status = absl::CancelledError(absl::StrCat(
        "invocation of '", entry->function, "' was cancelled while queued; it did not run"));
    RecordOutcome(*entry, status);
    done(std::move(status));
    return;
  }
  if (deadline_us != 0 && start_us >= deadline_us) {
    absl::Status status = absl::DeadlineExceededError(
        absl::StrCat("function '", entry->function, "' waited ", queue_us,
                     " us in the queue, past its deadline; it did not run"));
    RecordOutcome(*entry, status);
    done(std::move(status));
    return;
  }

  functions::InvocationInput input = TakeInput(request);
  input.budget_us = functions::BudgetLeft(deadline_us, start_us);
  input.cancel = cancel.get();  // the runtime stops the running call when it fires
  input.max_output_bytes = options_.max_output_bytes;
  running_.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<functions::InvocationOutput> output =
      InvokeGuarded(*entry->fn, entry->function, input);
  running_.fetch_sub(1, std::memory_order_relaxed);
  const int64_t end_us = clock_.NowMicros();
  Finish(*entry, std::move(output), queue_us, end_us - start_us, end_us, deadline_us, depth,
         std::move(done));
}

void InProcessExecutor::InvokeBatched(const EntryPtr& entry, v1::InvokeRequest request,
                                      int64_t enqueued_us, int64_t deadline_us,
                                      InvokeCallback done) {
  entry->batcher->Submit(
      TakeInput(request), deadline_us,
      [this, entry, enqueued_us, deadline_us, done = std::move(done)](
          absl::StatusOr<functions::InvocationOutput> output, const BatchRunInfo& info) mutable {
        common::GuardedAnswer<absl::StatusOr<v1::InvokeResponse>>(
            "in-process executor: batched invocation", std::move(done), [&](InvokeCallback answer) {
              const int64_t depth = queued_.fetch_sub(1, std::memory_order_relaxed) - 1;
              if (pending_gauge_ != nullptr) pending_gauge_->Decrement();
              const int64_t queue_us = info.start_us - enqueued_us;
              if (entry->queue_seconds != nullptr) entry->queue_seconds->Observe(queue_us / 1e6);
              if (!output.ok() && output.status().code() == absl::StatusCode::kDeadlineExceeded &&
                  info.members == 0) {
                // Expired while waiting for its batch: it did not run.
                output = absl::DeadlineExceededError(absl::StrCat(
                    "function '", entry->function, "' ", std::string(output.status().message())));
                RecordOutcome(*entry, output.status());
                answer(output.status());
                return;
              }
              Finish(*entry, std::move(output), queue_us, info.end_us - info.start_us, info.end_us,
                     deadline_us, depth, std::move(answer));
            });
      });
}

void InProcessExecutor::Finish(Entry& entry, absl::StatusOr<functions::InvocationOutput> output,
                               int64_t queue_us, int64_t exec_us, int64_t end_us,
                               int64_t deadline_us, int64_t depth, InvokeCallback done) {
  entry.invocations.fetch_add(1, std::memory_order_relaxed);
  invocations_.fetch_add(1, std::memory_order_relaxed);

  if (output.ok() && deadline_us != 0 && end_us > deadline_us) {
    output = absl::DeadlineExceededError(absl::StrCat("function '", entry.function,
                                                      "' finished past its deadline (ran ", exec_us,
                                                      " us after ", queue_us, " us queued)"));
  }
  if (output.ok()) {
    if (auto s = CheckOutputSize(entry.function, *output, options_.max_output_bytes); !s.ok()) {
      output = std::move(s);
    }
  }
  RecordOutcome(entry, output.status());
  if (!output.ok()) {
    done(output.status());
    return;
  }
  RecordExecTime(exec_us);
  if (entry.exec_seconds != nullptr) entry.exec_seconds->Observe(exec_us / 1e6);

  v1::InvokeResponse response;
  for (auto& t : output->tensors) *response.add_outputs() = std::move(t);
  response.set_raw(std::move(output->raw));
  response.set_queue_us(static_cast<uint64_t>(queue_us));
  response.set_load_us(0);
  response.set_exec_us(static_cast<uint64_t>(exec_us));
  response.set_device(options_.device);
  response.set_queue_depth(static_cast<uint32_t>(depth < 0 ? 0 : depth));
  done(std::move(response));
}

InProcessExecutor::EntryPtr InProcessExecutor::MakeEntry(const std::string& name,
                                                         const std::string& sha,
                                                         functions::LoadedFunctionPtr fn) {
  auto entry = std::make_shared<Entry>();
  entry->function = name;
  entry->sha256 = sha;
  entry->fn = std::move(fn);
  const v1::BatchingSpec& batching = entry->fn->spec().batching();
  if (batching.max_batch() > 1) {
    BatchingOptions batch_options;
    batch_options.max_batch = batching.max_batch();
    batch_options.max_delay_us = batching.max_delay_us();
    std::shared_ptr<functions::LoadedFunction> shared = entry->fn;
    entry->batcher = std::make_unique<Batcher>(
        batch_options,
        [shared, name](const functions::InvocationInput& input) {
          return InvokeGuarded(*shared, name, input);
        },
        [this](std::function<void()> work) { pool_.Schedule(std::move(work)); }, clock_);
  }
  return entry;
}

void InProcessExecutor::GetStatus(StatusCallback done) {
  v1::GetStatusResponse response;
  response.set_device(options_.device);
  response.set_device_name(options_.device_name);
  const int64_t queued = queued_.load(std::memory_order_relaxed);
  response.set_queue_depth(static_cast<uint32_t>(queued < 0 ? 0 : queued));
  response.set_threads(static_cast<uint32_t>(pool_.size()));
  response.set_invocations(invocations_.load(std::memory_order_relaxed));
  const common::CgroupCpu cgroup = common::OwnCgroupCpu();
  response.set_cpu_quota_cores(cgroup.quota_cores);
  const common::CpuThrottleMeter::Rates cpu =
      throttle_meter_.Read(clock_.NowMicros(), cgroup.throttled_ns, common::OwnCpuNs());
  response.set_cpu_throttled(cpu.throttled);
  response.set_cpu_used_cores(cpu.used_cores);
  {
    absl::MutexLock lock(&mu_);
    response.set_mean_service_us(ewma_exec_us_);
    for (const auto& [name, versions] : functions_) {
      for (const auto& [sha, entry] : versions) {
        v1::LoadedFunction* f = response.add_functions();
        f->set_function(name);
        f->set_sha256(sha);
        f->set_invocations(entry->invocations.load(std::memory_order_relaxed));
      }
    }
  }
  done(std::move(response));
}

}  // namespace stoa::executors
