// Operator limits on the Wasm modules a binary accepts and on the AOT
// compiler it runs for them (docs/limits.md, "Functions" and "Wasm compile
// sandbox"). A plain value type: the binaries fill it from flags
// (common/cli.h AddWasmModuleLimitFlags) and hand it to the Wasm runtime
// (functions::RuntimeOptions::wasm_limits); it lives in common so that both
// can name it.
#pragma once

#include <cstdint>

namespace stoa::common {

struct WasmLimits {
  // Checked while the module is first scanned, before wabt decodes it
  // (functions/wasm/module_limits.h); a module over one is refused at
  // registration (400 / INVALID_ARGUMENT).
  uint64_t max_module_bytes = 16 << 20;
  uint32_t max_functions = 100'000;       // defined functions plus imports
  uint32_t max_locals = 50'000;           // declared locals of one function
  uint64_t max_total_locals = 1'000'000;  // declared locals of all functions
  uint32_t max_function_bytes = 4 << 20;  // one function body

  // The AOT compile sandbox (functions/wasm/compile_sandbox.h): each tool
  // (wasm2c, then cc and its children) runs under these limits.
  uint32_t compile_timeout_s = 60;    // wall clock, whole compile
  uint32_t compile_cpu_s = 60;        // RLIMIT_CPU, per process
  uint32_t compile_memory_mb = 2048;  // RLIMIT_AS, per process
  uint32_t compile_file_mb = 512;     // RLIMIT_FSIZE, per file written
  uint32_t compile_concurrency = 2;   // compiles running at once, per process
  // Who the tools run as when the process is root is a string, so it lives
  // beside this struct (RuntimeOptions::wasm_compile_user): this one stays
  // trivially copyable.
};

}  // namespace stoa::common
