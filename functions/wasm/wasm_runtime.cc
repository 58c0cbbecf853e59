#include "functions/wasm/wasm_runtime.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "functions/wasm/aot_compiler.h"
#include "functions/wasm/aot_engine.h"
#include "functions/wasm/aot_tier.h"
#include "functions/wasm/interp_engine.h"
#include "functions/wasm/module_limits.h"
#include "functions/wasm/wasm_outcome.h"
#include "spdlog/spdlog.h"

namespace stoa::functions {
namespace {

// ThreadSanitizer delivers asynchronous signals only at its next intercepted
// call, and generated code makes none: a deadline could never stop a loop.
#if defined(__SANITIZE_THREAD__)
constexpr bool kAotSupported = false;
#else
constexpr bool kAotSupported = true;
#endif

using wasm::AotModule;
using wasm::AotSlot;
using wasm::InterpModule;
using wasm::LinearMemoryPool;

class WasmFunction final : public LoadedFunction {
 public:
  WasmFunction(v1::FunctionSpec spec, std::shared_ptr<const InterpModule> interp,
               std::shared_ptr<AotSlot> slot, std::shared_ptr<LinearMemoryPool> pool,
               uint32_t timeout_ms, uint64_t cap_pages, int slice, const common::Clock& clock)
      : spec_(std::move(spec)),
        interp_(std::move(interp)),
        slot_(std::move(slot)),
        pool_(std::move(pool)),
        timeout_ms_(timeout_ms),
        cap_pages_(cap_pages),
        slice_(slice),
        clock_(clock) {}

  const v1::FunctionSpec& spec() const override { return spec_; }
  WasmEngine engine() const { return slot_->code() ? WasmEngine::kAot : WasmEngine::kInterp; }
  const AotSlot& slot() const { return *slot_; }

  absl::StatusOr<InvocationOutput> Invoke(const InvocationInput& input) override {
    if (input.part != GraphPart::kWhole) {
      return absl::InvalidArgumentError(
          absl::StrCat("function '", spec_.name(), "' is Wasm: split inference is ONNX only"));
    }
    const wasm::CallLimits limits =
        wasm::MakeCallLimits(spec_.name(), timeout_ms_, input.budget_us, cap_pages_, clock_);
    // Held for the whole call: a swap to compiled code meanwhile reaches
    // only later calls.
    const std::shared_ptr<const AotModule> aot = slot_->code();
    if (aot) return wasm::RunAot(*aot, *pool_, input, limits);
    return wasm::RunInterp(*interp_, input, limits, slice_);
  }

 private:
  const v1::FunctionSpec spec_;
  const std::shared_ptr<const InterpModule> interp_;
  const std::shared_ptr<AotSlot> slot_;  // the compiled code, once there is some
  const std::shared_ptr<LinearMemoryPool> pool_;
  const uint32_t timeout_ms_;
  const uint64_t cap_pages_;
  const int slice_;
  const common::Clock& clock_;
};

}  // namespace

WasmRuntime::WasmRuntime(WasmRuntimeOptions options)
    : options_(std::move(options)),
      pool_(std::make_shared<LinearMemoryPool>(options_.aot_idle_memories)),
      shared_(std::make_shared<wasm::AotTierShared>()) {}

// Background compiles stop (their tools are killed) before the runtime
// goes, so none outlives the process's orderly exit.
WasmRuntime::~WasmRuntime() { shared_->CancelAndWait(); }

wasm::AotToolchain WasmRuntime::Toolchain() const {
  wasm::AotToolchain toolchain;
  toolchain.cache_dir = options_.aot_cache_dir;
  toolchain.translator = options_.aot_translator;
  toolchain.compiler = options_.aot_compiler;
  toolchain.opt_level = options_.aot_opt_level;
  toolchain.extra_flags = options_.aot_extra_flags;
  toolchain.limits = options_.limits;
  toolchain.compile_user = options_.compile_user;
  toolchain.cancel = shared_->cancel;
  return toolchain;
}

// kAuto with tiering: compiled code from the cache when it is there, else
// the interpreter now and a background compile (aot_tier.h). The status
// is an error only when the cache directory or the module rules AOT out,
// which kAuto answers with the interpreter.
absl::Status WasmRuntime::StartTiered(std::string_view artifact, const wasm::ModuleInfo& info,
                                      const std::string& name, AotSlot& slot,
                                      std::shared_ptr<AotSlot> owned) {
  const wasm::AotToolchain toolchain = Toolchain();
  absl::StatusOr<wasm::AotObject> probed = wasm::ProbeAotCache(artifact, info, toolchain);
  if (!probed.ok()) return probed.status();
  if (probed->cache_hit) {
    absl::StatusOr<std::shared_ptr<const AotModule>> opened = wasm::LoadAot(probed->path, info);
    if (!opened.ok()) return opened.status();
    slot.Publish(*std::move(opened));
    ++shared_->aot_cache_hits;
    return absl::OkStatus();
  }
  if (std::optional<std::string> failed = shared_->FailedBefore(probed->path)) {
    return absl::FailedPreconditionError(absl::StrCat("an earlier compile failed: ", *failed));
  }
  spdlog::info("wasm function '{}': serving on the interpreter while AOT compiles", name);
  wasm::StartBackgroundCompile(std::string(artifact), info, toolchain, name, probed->path,
                               std::move(owned), shared_);
  return absl::OkStatus();
}

// kAot, or kAuto without tiering: compile now, and wait.
absl::Status WasmRuntime::CompileNow(std::string_view artifact, const wasm::ModuleInfo& info,
                                     const std::string& name, AotSlot& slot) {
  absl::StatusOr<wasm::AotObject> object = wasm::CompileAot(artifact, info, Toolchain(), name);
  if (!object.ok()) return object.status();
  absl::StatusOr<std::shared_ptr<const AotModule>> opened = wasm::LoadAot(object->path, info);
  if (!opened.ok()) return opened.status();
  slot.Publish(*std::move(opened));
  (object->cache_hit ? shared_->aot_cache_hits : shared_->aot_compiled)++;
  if (!object->cache_hit) shared_->last_compile_ms = object->compile_ms;
  return absl::OkStatus();
}

absl::StatusOr<LoadedFunctionPtr> WasmRuntime::Load(const v1::FunctionSpec& spec,
                                                    std::string_view artifact) {
  const uint32_t memory_mb =
      spec.limits().memory_mb() != 0 ? spec.limits().memory_mb() : options_.default_memory_mb;
  // A 32-bit memory ends at 4 GiB (65,536 pages); a larger memory_mb would
  // leave malloc no cap to fail at short of that.
  const uint64_t cap_pages =
      std::min<uint64_t>(static_cast<uint64_t>(memory_mb) * wasm::kPagesPerMiB, 65'536);
  absl::Status limited = wasm::CheckModuleLimits(artifact, options_.limits);
  if (!limited.ok()) return limited;
  wasm::ModuleInfo info;
  absl::StatusOr<std::shared_ptr<const InterpModule>> decoded =
      wasm::DecodeModule(artifact, memory_mb, cap_pages, options_.max_table_entries, &info);
  if (!decoded.ok()) return decoded.status();

  auto slot = std::make_shared<AotSlot>();
  if (!kAotSupported && options_.engine == WasmEngine::kAot) {
    return absl::UnavailableError("the Wasm AOT engine is not available under ThreadSanitizer");
  }
  if (kAotSupported && options_.engine != WasmEngine::kInterp) {
    const bool tiered = options_.engine == WasmEngine::kAuto && options_.tiered;
    absl::Status status = tiered ? StartTiered(artifact, info, spec.name(), *slot, slot)
                                 : CompileNow(artifact, info, spec.name(), *slot);
    // Without tiering, a module that runs the compiler into a sandbox limit
    // is refused, also with kAuto: the interpreter would hand it a way
    // around the compile budget. (Tiered, the compile runs after the
    // answer; it is stopped the same way and remembered, see aot_tier.h.)
    if (absl::IsResourceExhausted(status)) return absl::InvalidArgumentError(status.message());
    if (!status.ok()) {
      if (options_.engine == WasmEngine::kAot) {
        return absl::UnavailableError(absl::StrCat(
            "wasm function '", spec.name(), "': AOT compilation failed: ", status.message()));
      }
      spdlog::warn("wasm function '{}': AOT unavailable ({}); using the interpreter", spec.name(),
                   std::string(status.message()));
      ++shared_->interp_fallbacks;
    }
  }
  if (!slot->code()) ++shared_->interp_loads;

  v1::FunctionSpec loaded = spec;
  loaded.set_runtime("wasm");
  if (loaded.content_type().empty()) loaded.set_content_type("application/octet-stream");
  loaded.clear_inputs();
  loaded.clear_outputs();
  const uint32_t timeout_ms =
      spec.limits().timeout_ms() != 0 ? spec.limits().timeout_ms() : options_.default_timeout_ms;
  return std::make_unique<WasmFunction>(std::move(loaded), *std::move(decoded), std::move(slot),
                                        pool_, timeout_ms, cap_pages,
                                        options_.instructions_per_slice, *options_.clock);
}

WasmLoadStats WasmRuntime::stats() const {
  WasmLoadStats s;
  s.aot_compiled = shared_->aot_compiled.load();
  s.aot_cache_hits = shared_->aot_cache_hits.load();
  s.interp_fallbacks = shared_->interp_fallbacks.load();
  s.interp_loads = shared_->interp_loads.load();
  s.background_compiles = shared_->background_compiles.load();
  s.tier_swaps = shared_->tier_swaps.load();
  s.last_compile_ms = shared_->last_compile_ms.load();
  s.memories_reserved = pool_->created();
  return s;
}

std::optional<WasmEngine> WasmRuntime::EngineOf(const LoadedFunction& function) {
  const auto* wasm_function = dynamic_cast<const WasmFunction*>(&function);
  if (wasm_function == nullptr) return std::nullopt;
  return wasm_function->engine();
}

bool WasmRuntime::AwaitCompiled(const LoadedFunction& function, absl::Duration timeout) {
  const auto* wasm_function = dynamic_cast<const WasmFunction*>(&function);
  return wasm_function == nullptr || wasm_function->slot().WaitFinished(timeout);
}

std::string WasmRuntime::CompileError(const LoadedFunction& function) {
  const auto* wasm_function = dynamic_cast<const WasmFunction*>(&function);
  return wasm_function == nullptr ? std::string() : wasm_function->slot().error();
}

}  // namespace stoa::functions
