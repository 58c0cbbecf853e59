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

}  // namespace stoa::common
