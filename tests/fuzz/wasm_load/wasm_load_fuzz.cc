// Fuzz target: the Wasm runtime's Load on the interpreter engine
// (functions/wasm/wasm_runtime.h, WasmEngine::kInterp): module bytes →
// wabt decode and validation → import restrictions → a loaded function.
// No AOT compile here (it forks wasm2c and cc). Run it with libFuzzer's
// -timeout and -rss_limit_mb: a module that is slow or large to load is a
// finding of its own (issue 10: locals, tables).
// Oracles: no crash, sanitizer report or escaped exception; a module that
// loads is a "wasm" function.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "functions/wasm/wasm_runtime.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* runtime = [] {
    stoa::functions::WasmRuntimeOptions options;
    options.engine = stoa::functions::WasmEngine::kInterp;
    return new stoa::functions::WasmRuntime(options);
  }();
  stoa::v1::FunctionSpec spec;
  spec.set_name("fuzzed");
  spec.set_runtime("wasm");
  spec.mutable_limits()->set_memory_mb(16);
  spec.mutable_limits()->set_timeout_ms(100);
  const std::string_view artifact(reinterpret_cast<const char*>(data), size);
  auto loaded = runtime->Load(spec, artifact);
  if (!loaded.ok()) return 0;
  stoa::fuzz::Require((*loaded)->spec().runtime() == "wasm", "loaded spec is not wasm");
  return 0;
}
