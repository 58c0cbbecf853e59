#include "common/cli.h"

#include <iostream>
#include <vector>

#include "common/config.h"

namespace stoa::common {

std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv) {
  auto expanded = ExpandConfigArgs(argc, argv);
  if (!expanded.ok()) {
    std::cerr << (argc > 0 ? argv[0] : "stoa") << ": " << expanded.status().message() << "\n";
    return kExitBadFlags;
  }
  if (app.get_option_no_throw("--config") == nullptr) {
    // ExpandConfigArgs consumed it; declared so that --help lists it.
    app.add_option("--config")->description("YAML file whose keys are flag names");
  }
  for (CLI::Option* option : app.get_options()) {
    // Repeatable options (declared TakeAll) keep every value.
    if (option->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll) continue;
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  std::vector<const char*> args;
  args.reserve(expanded->size());
  for (const std::string& a : *expanded) args.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadFlags;
  }
  return std::nullopt;
}

void AddWasmFlags(CLI::App& app, std::string& engine, std::string& cache_dir) {
  app.add_option("--wasm-engine", engine,
                 "how Wasm functions run: auto (compiled ahead of time, the interpreter when "
                 "wasm2c or cc is missing), aot, or interp")
      ->check(CLI::IsMember({"auto", "aot", "interp"}))
      ->capture_default_str();
  app.add_option("--wasm-cache-dir", cache_dir,
                 "cache of compiled Wasm modules (default $XDG_CACHE_HOME/stoa/wasm, else "
                 "/tmp/stoa-wasm-cache-<uid>)");
}

void AddWasmLimitFlags(CLI::App& app, uint32_t& max_table_entries) {
  app.add_option("--wasm-max-table-entries", max_table_entries,
                 "entries one Wasm table may declare or grow to; a module declaring more is "
                 "refused at registration")
      ->check(CLI::Range(1u, 10'000'000u))
      ->capture_default_str();
}

void AddMetricsLimitFlag(CLI::App& app, size_t& max_series) {
  app.add_option("--metrics-max-series", max_series,
                 "most metric series /metrics holds; past it new series are dropped and counted "
                 "in stoa_metrics_series_dropped_total")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
}

void AddOnnxLimitFlags(CLI::App& app, OnnxLimitFlags& limits) {
  app.add_option("--onnx-max-nodes", limits.max_nodes,
                 "nodes an ONNX model's graph may have; a larger model is refused at "
                 "registration")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--onnx-max-initializer-mb", limits.max_initializer_mb,
                 "MiB an ONNX model's initializers may take once decoded")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  app.add_option("--onnx-max-memory-mb", limits.max_memory_mb,
                 "memory budget in MiB of an ONNX function (constants plus one call's tensors) "
                 "whose spec sets no limits.memory_mb, and the most a spec may ask for")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
}

void AddWasmModuleLimitFlags(CLI::App& app, WasmLimits& limits, std::string& compile_user) {
  app.add_option("--wasm-max-module-bytes", limits.max_module_bytes,
                 "largest Wasm module accepted, in bytes")
      ->check(CLI::Range(uint64_t{8}, uint64_t{1} << 32))
      ->capture_default_str();
  app.add_option("--wasm-max-functions", limits.max_functions,
                 "functions (imported and defined) one Wasm module may declare")
      ->check(CLI::Range(1u, 10'000'000u))
      ->capture_default_str();
  app.add_option("--wasm-max-locals", limits.max_locals, "locals one Wasm function may declare")
      ->check(CLI::Range(1u, UINT32_MAX))
      ->capture_default_str();
  app.add_option("--wasm-max-total-locals", limits.max_total_locals,
                 "locals all functions of one Wasm module may declare together")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--wasm-max-function-bytes", limits.max_function_bytes,
                 "largest Wasm function body, in bytes")
      ->check(CLI::Range(1u, UINT32_MAX))
      ->capture_default_str();
  app.add_option("--wasm-compile-timeout-s", limits.compile_timeout_s,
                 "wall-clock limit of one Wasm AOT compile (wasm2c + cc); the module is refused")
      ->check(CLI::Range(1u, 86'400u))
      ->capture_default_str();
  app.add_option("--wasm-compile-cpu-s", limits.compile_cpu_s,
                 "CPU seconds each process of a Wasm AOT compile may use (RLIMIT_CPU)")
      ->check(CLI::Range(1u, 86'400u))
      ->capture_default_str();
  app.add_option("--wasm-compile-memory-mb", limits.compile_memory_mb,
                 "address space each process of a Wasm AOT compile may use (RLIMIT_AS), MiB")
      ->check(CLI::Range(64u, 1'048'576u))
      ->capture_default_str();
  app.add_option("--wasm-compile-file-mb", limits.compile_file_mb,
                 "largest file a Wasm AOT compile may write (RLIMIT_FSIZE), MiB")
      ->check(CLI::Range(1u, 1'048'576u))
      ->capture_default_str();
  app.add_option("--wasm-compile-concurrency", limits.compile_concurrency,
                 "Wasm AOT compiles running at once in this process")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_option("--wasm-compile-user", compile_user,
                 "user the Wasm AOT compiler runs as when this process is root (\"\": root)")
      ->capture_default_str();
}

}  // namespace stoa::common
