// Command-line parsing shared by Stoa's binaries: CLI11, with `--config FILE`
// expanded into flags first (common/config.h) and every option taking its
// last value, so a flag on the command line wins over the same key in the
// file. Call it after the binary has added its own options; it adds
// `--config` itself.
//
// Returns nullopt when the program should go on, otherwise the exit code:
// 0 after --help, 2 after a bad flag or config file (the message is printed
// to stderr, naming the flag or the file's problem).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "common/wasm_limits.h"

namespace stoa::common {

inline constexpr int kExitBadFlags = 2;

std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv);

// `--wasm-engine auto|aot|interp` and `--wasm-cache-dir DIR`, the Wasm
// runtime's options of every binary that runs functions
// (functions::RuntimeOptions::wasm_engine, wasm_cache_dir).
void AddWasmFlags(CLI::App& app, std::string& engine, std::string& cache_dir);

// `--wasm-max-table-entries N`: entries one Wasm table may declare or grow
// to (functions::RuntimeOptions::wasm_max_table_entries); a module declaring
// more is refused at registration (docs/limits.md).
void AddWasmLimitFlags(CLI::App& app, uint32_t& max_table_entries);

// `--metrics-max-series N`: the series /metrics holds at most
// (common::metrics::Registry; docs/limits.md § Metrics).
void AddMetricsLimitFlag(CLI::App& app, size_t& max_series);

// The ONNX runtime's model limits (functions::RuntimeOptions::onnx_*,
// docs/limits.md): `--onnx-max-nodes N` (nodes of a model's graph),
// `--onnx-max-initializer-mb N` (its decoded initializers) and
// `--onnx-max-memory-mb N` (the memory budget of a function whose spec sets
// no limits.memory_mb, and the most a spec may ask for).
struct OnnxLimitFlags {
  int64_t max_nodes = 100'000;
  int64_t max_initializer_mb = 2048;
  int64_t max_memory_mb = 1024;
};
void AddOnnxLimitFlags(CLI::App& app, OnnxLimitFlags& limits);

// The module shape limits and the AOT compile sandbox (common::WasmLimits,
// docs/limits.md): --wasm-max-module-bytes, --wasm-max-functions,
// --wasm-max-locals, --wasm-max-total-locals, --wasm-max-function-bytes,
// --wasm-compile-timeout-s, --wasm-compile-cpu-s, --wasm-compile-memory-mb,
// --wasm-compile-file-mb, --wasm-compile-concurrency, --wasm-compile-user.
void AddWasmModuleLimitFlags(CLI::App& app, WasmLimits& limits, std::string& compile_user);

}  // namespace stoa::common
