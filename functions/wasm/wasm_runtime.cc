#include "functions/wasm/wasm_runtime.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "functions/wasm/aot_compiler.h"
#include "functions/wasm/aot_engine.h"
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
using wasm::InterpModule;
using wasm::LinearMemoryPool;

class WasmFunction final : public LoadedFunction {
 public:
  WasmFunction(v1::FunctionSpec spec, std::shared_ptr<const InterpModule> interp,
               std::shared_ptr<const AotModule> aot, std::shared_ptr<LinearMemoryPool> pool,
               uint32_t timeout_ms, uint64_t cap_pages, int slice, const common::Clock& clock)
      : spec_(std::move(spec)),
        interp_(std::move(interp)),
        aot_(std::move(aot)),
        pool_(std::move(pool)),
        timeout_ms_(timeout_ms),
        cap_pages_(cap_pages),
        slice_(slice),
        clock_(clock) {}

  const v1::FunctionSpec& spec() const override { return spec_; }
  WasmEngine engine() const { return aot_ ? WasmEngine::kAot : WasmEngine::kInterp; }

  absl::StatusOr<InvocationOutput> Invoke(const InvocationInput& input) override {
    const wasm::CallLimits limits =
        wasm::MakeCallLimits(spec_.name(), timeout_ms_, input.budget_us, cap_pages_, clock_);
    if (aot_) return wasm::RunAot(*aot_, *pool_, input, limits);
    return wasm::RunInterp(*interp_, input, limits, slice_);
  }

 private:
  const v1::FunctionSpec spec_;
  const std::shared_ptr<const InterpModule> interp_;
  const std::shared_ptr<const AotModule> aot_;  // null: interpreter
  const std::shared_ptr<LinearMemoryPool> pool_;
  const uint32_t timeout_ms_;
  const uint64_t cap_pages_;
  const int slice_;
  const common::Clock& clock_;
};

}  // namespace

WasmRuntime::WasmRuntime(WasmRuntimeOptions options)
    : options_(std::move(options)),
      pool_(std::make_shared<LinearMemoryPool>(options_.aot_idle_memories)) {}

WasmRuntime::~WasmRuntime() = default;

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

  std::shared_ptr<const AotModule> aot;
  if (!kAotSupported && options_.engine == WasmEngine::kAot) {
    return absl::UnavailableError("the Wasm AOT engine is not available under ThreadSanitizer");
  }
  if (kAotSupported && options_.engine != WasmEngine::kInterp) {
    wasm::AotToolchain toolchain;
    toolchain.cache_dir = options_.aot_cache_dir;
    toolchain.translator = options_.aot_translator;
    toolchain.compiler = options_.aot_compiler;
    toolchain.opt_level = options_.aot_opt_level;
    toolchain.limits = options_.limits;
    toolchain.compile_user = options_.compile_user;
    absl::StatusOr<wasm::AotObject> object =
        wasm::CompileAot(artifact, info, toolchain, spec.name());
    absl::Status status = object.status();
    // A module that runs the compiler into a sandbox limit is refused, also
    // with kAuto: the interpreter would hand the same module a way around
    // the compile budget.
    if (absl::IsResourceExhausted(status)) return absl::InvalidArgumentError(status.message());
    if (object.ok()) {
      absl::StatusOr<std::shared_ptr<const AotModule>> opened = wasm::LoadAot(object->path, info);
      status = opened.status();
      if (opened.ok()) {
        aot = *std::move(opened);
        (object->cache_hit ? aot_cache_hits_ : aot_compiled_)++;
        if (!object->cache_hit) last_compile_ms_ = object->compile_ms;
      }
    }
    if (!status.ok()) {
      if (options_.engine == WasmEngine::kAot) {
        return absl::UnavailableError(absl::StrCat(
            "wasm function '", spec.name(), "': AOT compilation failed: ", status.message()));
      }
      spdlog::warn("wasm function '{}': AOT unavailable ({}); using the interpreter", spec.name(),
                   std::string(status.message()));
      ++interp_fallbacks_;
    }
  }
  if (!aot) ++interp_loads_;

  v1::FunctionSpec loaded = spec;
  loaded.set_runtime("wasm");
  if (loaded.content_type().empty()) loaded.set_content_type("application/octet-stream");
  loaded.clear_inputs();
  loaded.clear_outputs();
  const uint32_t timeout_ms =
      spec.limits().timeout_ms() != 0 ? spec.limits().timeout_ms() : options_.default_timeout_ms;
  return std::make_unique<WasmFunction>(std::move(loaded), *std::move(decoded), std::move(aot),
                                        pool_, timeout_ms, cap_pages,
                                        options_.instructions_per_slice, *options_.clock);
}

WasmLoadStats WasmRuntime::stats() const {
  WasmLoadStats s;
  s.aot_compiled = aot_compiled_.load();
  s.aot_cache_hits = aot_cache_hits_.load();
  s.interp_fallbacks = interp_fallbacks_.load();
  s.interp_loads = interp_loads_.load();
  s.last_compile_ms = last_compile_ms_.load();
  s.memories_reserved = pool_->created();
  return s;
}

std::optional<WasmEngine> WasmRuntime::EngineOf(const LoadedFunction& function) {
  const auto* wasm_function = dynamic_cast<const WasmFunction*>(&function);
  if (wasm_function == nullptr) return std::nullopt;
  return wasm_function->engine();
}

}  // namespace stoa::functions
