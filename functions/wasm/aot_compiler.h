// Ahead-of-time compilation of a validated Wasm module into a shared object
// for aot_engine.h: wasm2c (Debian's /usr/bin/wasm2c, wabt 1.0.32)
// translates it to C against /usr/include/wasm-rt.h, a generated glue file
// (GlueSource) connects the module's WASI imports and the wasm-rt functions
// to the host table (aot_host_abi.h) that aot_engine.cc provides, and the
// system C compiler builds both (`cc -O2 -fPIC -shared`, hidden visibility,
// -fstack-clash-protection).
//
// Cache: the object is stored as <cache_dir>/<sha256 of the artifact>-<key
// of the toolchain, kAotAbiVersion and the whole glue source>.so. It is
// written to a temporary directory next to it and renamed into place, so
// concurrent loads (threads or processes) never see a partial file, and a
// later Load (also after a restart) reuses it without compiling.
// The tools run in the compile sandbox (compile_sandbox.h) under
// AotToolchain::limits, in a work directory of their own; the object is
// copied into the cache by this process. Compiles of different modules run
// concurrently (at most limits.compile_concurrency at once); concurrent
// compiles of one module wait for the first and reuse its object. The directory holds code the
// process will run, so it must be private: owned by the effective user, not
// a symlink, not writable by group or others (created with mode 0700 when
// missing); otherwise AOT is UNAVAILABLE.
//
// Errors: RESOURCE_EXHAUSTED when a sandbox limit stopped a tool (the
// message names the limit; the runtime refuses the module), UNAVAILABLE when the translator or
// compiler is missing or fails (the message carries the tool's first lines of stderr),
// FAILED_PRECONDITION when the module cannot be compiled by this engine (an import name or type the
// glue cannot express). The runtime then falls back to the interpreter.
//
// Thread safety: CompileAot may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/wasm_limits.h"
#include "functions/wasm/interp_engine.h"

namespace stoa::functions::wasm {

struct AotToolchain {
  std::string cache_dir;              // "" = DefaultAotCacheDir()
  std::string translator = "wasm2c";  // looked up on PATH unless it has a '/'
  std::string compiler = "cc";
  std::string opt_level = "-O2";
  // More compiler flags, space-separated (e.g. "-march=native"); part of the
  // cache key like every flag.
  std::string extra_flags;
  common::WasmLimits limits;            // the compile_* fields: the sandbox
  std::string compile_user = "nobody";  // as root: who runs the tools ("": root)
  // When it turns true, a compile in progress is stopped (CANCELLED).
  std::shared_ptr<const std::atomic<bool>> cancel;
};

struct AotObject {
  std::string path;        // the cached .so
  bool cache_hit = false;  // reused without compiling
  double compile_ms = 0;   // translate + compile (0 on a cache hit)
};

// `function` names the function in sandbox messages.
absl::StatusOr<AotObject> CompileAot(std::string_view artifact, const ModuleInfo& info,
                                     const AotToolchain& toolchain, std::string_view function);

// Where the object for `artifact` is cached and whether it is there
// (cache_hit); compiles nothing. Errors as CompileAot's (a private cache
// directory, a module the glue cannot express).
absl::StatusOr<AotObject> ProbeAotCache(std::string_view artifact, const ModuleInfo& info,
                                        const AotToolchain& toolchain);

// The compiler's flags before the sources: opt_level, extra_flags, then
// -fPIC -shared -fvisibility=hidden -fstack-clash-protection -DNDEBUG -w.
std::vector<std::string> AotCompilerFlags(const AotToolchain& toolchain);

// $XDG_CACHE_HOME/stoa/wasm when XDG_CACHE_HOME is set, else
// /tmp/stoa-wasm-cache-<uid>.
std::string DefaultAotCacheDir();

// The C source that is compiled with the wasm2c output `module.c` (module
// name "stoa"); exposed for tests.
std::string GlueSource(const ModuleInfo& info);

}  // namespace stoa::functions::wasm
