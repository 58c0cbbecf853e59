#include "functions/function_runtime.h"

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "functions/onnx/onnx_runtime.h"
#include "functions/wasm/wasm_runtime.h"

namespace stoa::functions {

void RuntimeSet::Add(FunctionRuntimePtr runtime) { runtimes_.push_back(std::move(runtime)); }

FunctionRuntime* RuntimeSet::Find(std::string_view name) const {
  for (const auto& r : runtimes_) {
    if (r->name() == name) return r.get();
  }
  return nullptr;
}

absl::StatusOr<LoadedFunctionPtr> RuntimeSet::Load(const v1::FunctionSpec& spec,
                                                   std::string_view artifact) const {
  absl::StatusOr<FunctionRuntime*> runtime = For(spec);
  if (!runtime.ok()) return runtime.status();
  return (*runtime)->Load(spec, artifact);
}

absl::StatusOr<LoadedFunctionPtr> RuntimeSet::LoadFile(const v1::FunctionSpec& spec,
                                                       const std::string& path) const {
  absl::StatusOr<FunctionRuntime*> runtime = For(spec);
  if (!runtime.ok()) return runtime.status();
  return (*runtime)->LoadFile(spec, path);
}

absl::StatusOr<FunctionRuntime*> RuntimeSet::For(const v1::FunctionSpec& spec) const {
  FunctionRuntime* runtime = Find(spec.runtime());
  if (runtime == nullptr) {
    std::string known;
    for (const auto& r : runtimes_) {
      absl::StrAppend(&known, known.empty() ? "" : ", ", std::string(r->name()));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("runtime '", spec.runtime(), "' is not supported (supported: ", known, ")"));
  }
  return runtime;
}

WasmRuntimeOptions WasmOptionsFrom(const RuntimeOptions& options) {
  WasmRuntimeOptions wasm;
  wasm.engine = options.wasm_engine == "aot"      ? WasmEngine::kAot
                : options.wasm_engine == "interp" ? WasmEngine::kInterp
                                                  : WasmEngine::kAuto;
  wasm.aot_cache_dir = options.wasm_cache_dir;
  wasm.limits = options.wasm_limits;
  wasm.compile_user = options.wasm_compile_user;
  wasm.max_table_entries = options.wasm_max_table_entries;
  wasm.clock = options.clock;
  return wasm;
}

OnnxRuntimeOptions OnnxOptionsFrom(const RuntimeOptions& options) {
  return {.intra_op_threads = options.intra_op_threads,
          .max_nodes = options.onnx_max_nodes,
          .max_initializer_mb = options.onnx_max_initializer_mb,
          .max_memory_mb = options.onnx_max_memory_mb,
          .clock = options.clock};
}

RuntimeSet DefaultRuntimes(const RuntimeOptions& options) {
  RuntimeSet set;
  set.Add(std::make_unique<OnnxRuntime>(OnnxOptionsFrom(options)));
  set.Add(std::make_unique<WasmRuntime>(WasmOptionsFrom(options)));
  return set;
}

}  // namespace stoa::functions
