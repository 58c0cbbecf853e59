#include "functions/wasm/aot_tier.h"

#include <chrono>
#include <thread>
#include <utility>

#include "spdlog/spdlog.h"

namespace stoa::functions::wasm {

void AotSlot::Finish(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) error_ = std::string(status.message());
  }
  pending_.store(false);
  if (!finished_.HasBeenNotified()) finished_.Notify();
}

bool AotSlot::WaitFinished(absl::Duration timeout) const {
  if (!pending_.load()) return true;
  return finished_.WaitForNotificationWithTimeout(timeout);
}

std::string AotSlot::error() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

std::optional<std::string> AotTierShared::FailedBefore(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = failed_.find(path);
  if (it == failed_.end()) return std::nullopt;
  return it->second;
}

void AotTierShared::RememberFailure(const std::string& path, std::string error) {
  absl::MutexLock lock(&mu_);
  failed_[path] = std::move(error);
}

void AotTierShared::Begin() {
  absl::MutexLock lock(&mu_);
  ++running_;
}

void AotTierShared::End() {
  absl::MutexLock lock(&mu_);
  --running_;
}

void AotTierShared::CancelAndWait() {
  cancel->store(true);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* running) { return *running == 0; }, &running_));
}

namespace {

void CompileAndSwap(const std::string& artifact, const ModuleInfo& info,
                    const AotToolchain& toolchain, const std::string& function,
                    const std::string& object_path, AotSlot& slot, AotTierShared& shared) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<AotObject> object = CompileAot(artifact, info, toolchain, function);
  absl::Status status = object.status();
  if (object.ok()) {
    absl::StatusOr<std::shared_ptr<const AotModule>> opened = LoadAot(object->path, info);
    status = opened.status();
    if (opened.ok()) {
      slot.Publish(*std::move(opened));
      (object->cache_hit ? shared.aot_cache_hits : shared.aot_compiled)++;
      if (!object->cache_hit) shared.last_compile_ms = object->compile_ms;
      ++shared.tier_swaps;
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      spdlog::info(
          "wasm function '{}': optimized code ready after {:.0f} ms in the background; tier "
          "interp -> aot (compiled code serves new invocations)",
          function, ms);
    }
  }
  if (absl::IsCancelled(status)) {
    spdlog::info("wasm function '{}': background AOT compile abandoned (the runtime is going away)",
                 function);
  } else if (!status.ok()) {
    ++shared.interp_fallbacks;
    shared.RememberFailure(object_path, std::string(status.message()));
    spdlog::warn(
        "wasm function '{}': background AOT compile failed ({}); the interpreter keeps serving it",
        function, std::string(status.message()));
  }
  slot.Finish(status);
}

}  // namespace

void StartBackgroundCompile(std::string artifact, ModuleInfo info, AotToolchain toolchain,
                            std::string function, std::string object_path,
                            std::shared_ptr<AotSlot> slot, std::shared_ptr<AotTierShared> shared) {
  slot->MarkPending();
  ++shared->background_compiles;
  shared->Begin();
  std::thread([artifact = std::move(artifact), info = std::move(info),
               toolchain = std::move(toolchain), function = std::move(function),
               object_path = std::move(object_path), slot = std::move(slot),
               shared = std::move(shared)] {
    CompileAndSwap(artifact, info, toolchain, function, object_path, *slot, *shared);
    shared->End();  // last: the runtime's destructor may return after it
  }).detach();
}

}  // namespace stoa::functions::wasm
