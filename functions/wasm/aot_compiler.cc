#include "functions/wasm/aot_compiler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/sha256.h"
#include "functions/wasm/aot_host_abi.h"
#include "functions/wasm/compile_sandbox.h"

namespace stoa::functions::wasm {
namespace {

namespace fs = std::filesystem;

// The glue around the host table (aot_host_abi.h), which goes between the
// two.
constexpr std::string_view kGlueIncludes = R"(/* Stoa AOT glue (functions/wasm/aot_compiler.cc). */
#include "module.c"
#include <stdarg.h>
#define STOA_EXPORT __attribute__((visibility("default")))
)";

constexpr std::string_view kGlueRuntime = R"(static const struct stoa_wasm_host* stoa_host;

void wasm_rt_init(void) {}
bool wasm_rt_is_initialized(void) { return stoa_host != NULL; }
void wasm_rt_free(void) {}
void wasm_rt_trap(wasm_rt_trap_t code) {
  stoa_host->trap((uint32_t)code);
  __builtin_unreachable();
}
const char* wasm_rt_strerror(wasm_rt_trap_t code) {
  (void)code;
  return "wasm trap";
}
uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint32_t types[params + results + 1];
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < params + results; ++i) types[i] = (uint32_t)va_arg(ap, int);
  va_end(ap);
  return stoa_host->register_func_type(params, results, types);
}
void wasm_rt_allocate_memory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  stoa_host->allocate_memory(m, initial, max);
}
uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* m, uint32_t delta) {
  return stoa_host->grow_memory(m, delta);
}
void wasm_rt_free_memory(wasm_rt_memory_t* m) { stoa_host->free_memory(m); }

#define STOA_TABLE(kind, elem)                                                        \
  void wasm_rt_allocate_##kind##_table(wasm_rt_##kind##_table_t* t, uint32_t n,       \
                                        uint32_t max) {                               \
    t->data = (elem*)stoa_host->alloc_zeroed((uint64_t)n * sizeof(elem));             \
    t->size = n;                                                                      \
    t->max_size = max < STOA_MAX_TABLE_ENTRIES ? max : STOA_MAX_TABLE_ENTRIES;        \
  }                                                                                   \
  void wasm_rt_free_##kind##_table(wasm_rt_##kind##_table_t* t) {                     \
    stoa_host->free_bytes(t->data);                                                   \
    t->data = NULL;                                                                   \
    t->size = 0;                                                                      \
  }                                                                                   \
  uint32_t wasm_rt_grow_##kind##_table(wasm_rt_##kind##_table_t* t, uint32_t delta,   \
                                       elem init) {                                   \
    uint32_t old = t->size;                                                           \
    uint64_t n = (uint64_t)old + delta;                                               \
    if (n > t->max_size) return UINT32_MAX;                                           \
    if (delta == 0) return old;                                                       \
    elem* d = (elem*)stoa_host->realloc_bytes(t->data, n * sizeof(elem));             \
    if (d == NULL) return UINT32_MAX;                                                 \
    for (uint64_t i = old; i < n; ++i) d[i] = init;                                   \
    t->data = d;                                                                      \
    t->size = (uint32_t)n;                                                            \
    return old;                                                                       \
  }
STOA_TABLE(funcref, wasm_rt_funcref_t)
STOA_TABLE(externref, wasm_rt_externref_t)

/* Exceptions (only reachable with wasm2c --enable-exceptions): per thread. */
static _Thread_local uint32_t stoa_exc_tag, stoa_exc_size;
static _Thread_local unsigned char stoa_exc_data[256];
static _Thread_local WASM_RT_UNWIND_TARGET* stoa_unwind;
static uint32_t stoa_tags;
uint32_t wasm_rt_register_tag(uint32_t size) {
  (void)size;
  return stoa_tags++;
}
void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void* values) {
  if (size > sizeof stoa_exc_data) wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);
  stoa_exc_tag = tag;
  stoa_exc_size = size;
  if (size != 0) memcpy(stoa_exc_data, values, size);
}
void wasm_rt_throw(void) {
  if (stoa_unwind == NULL) wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
  siglongjmp(*stoa_unwind, 1);
}
WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void) { return stoa_unwind; }
void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET* target) { stoa_unwind = target; }
uint32_t wasm_rt_exception_tag(void) { return stoa_exc_tag; }
uint32_t wasm_rt_exception_size(void) { return stoa_exc_size; }
void* wasm_rt_exception(void) { return stoa_exc_data; }

/* Imports (WASI, stoa_libc): each forwards to the host with its import index. */
)";

const char* CType(ValType t) {
  switch (t) {
    case ValType::kI32:
      return "u32";
    case ValType::kI64:
      return "u64";
    case ValType::kF32:
      return "f32";
    case ValType::kF64:
      return "f64";
    case ValType::kOther:
      break;
  }
  return "";
}

// wasm2c 1.0.32 keeps names made of [a-z0-9_] unchanged in its symbols; any
// other name is left to the interpreter rather than guessing its mangling.
bool PlainName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_')) return false;
  }
  return true;
}

absl::Status CheckCompilable(const ModuleInfo& info) {
  for (const WasmImport& import : info.imports) {
    bool ok = PlainName(import.module) && PlainName(import.name) && import.results.size() <= 1;
    for (ValType t : import.params) ok = ok && t != ValType::kOther;
    for (ValType t : import.results) ok = ok && t != ValType::kOther;
    if (!ok) {
      return absl::UnimplementedError(absl::StrCat("the AOT engine cannot link import '",
                                                   import.module, ".", import.name, "'"));
    }
  }
  return absl::OkStatus();
}

std::string Forwarder(const WasmImport& import, size_t index) {
  const std::string result =
      import.results.empty() ? "void" : std::string(CType(import.results[0]));
  // wasm2c 1.0.32: `struct Z_<module>_instance_t*`, `Z_<module>Z_<name>`.
  std::vector<std::string> params = {absl::StrCat("struct Z_", import.module, "_instance_t* w")};
  std::vector<std::string> args;
  for (size_t i = 0; i < import.params.size(); ++i) {
    params.push_back(absl::StrCat(CType(import.params[i]), " a", i));
    args.push_back(absl::StrCat("(uint64_t)a", i));
  }
  args.push_back("0");
  return absl::StrCat(result, " Z_", import.module, "Z_", import.name, "(",
                      absl::StrJoin(params, ", "), ") {\n  const uint64_t a[] = {",
                      absl::StrJoin(args, ", "), "};\n  ", import.results.empty() ? "" : "return ",
                      import.results.empty() ? "" : absl::StrCat("(", result, ")"),
                      "stoa_host->wasi(w, ", index, ", a);\n}\n");
}

// The cache holds code this process will run, so it must be ours alone: a
// directory (not a symlink) owned by the effective user and writable by
// nobody else. A missing one is created with mode 0700.
absl::Status CheckCacheDir(const fs::path& dir) {
  std::error_code ec;
  if (fs::create_directories(dir, ec)) chmod(dir.c_str(), 0700);
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) {
    return absl::UnavailableError(absl::StrCat("AOT cache directory ", dir.string(),
                                               " cannot be created: ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0022) != 0) {
    return absl::UnavailableError(
        absl::StrCat("AOT cache directory ", dir.string(),
                     " is not a private directory of this user (it must be owned by uid ",
                     geteuid(), " and not writable by group or others)"));
  }
  return absl::OkStatus();
}

// Compiles in progress in this process: at most `limit` at once, and one
// per object path (the same module is compiled once; the others then find
// it in the cache).
class CompileGate {
 public:
  void Enter(const std::string& key, uint32_t limit) {
    absl::MutexLock lock(&mu_);
    while (running_ >= std::max<uint32_t>(limit, 1) || keys_.contains(key)) cv_.Wait(&mu_);
    ++running_;
    keys_.insert(key);
  }
  void Leave(const std::string& key) {
    absl::MutexLock lock(&mu_);
    --running_;
    keys_.erase(key);
    cv_.SignalAll();
  }

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  uint32_t running_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<std::string> keys_ ABSL_GUARDED_BY(mu_);
};

CompileGate& Gate() {
  static auto* gate = new CompileGate;
  return *gate;
}

// A private work directory for the tools: in the cache when they run as
// this user; in the system temp directory, owned by the sandbox user, when
// they run as another (the cache directory is 0700).
absl::StatusOr<fs::path> MakeWorkDir(const fs::path& cache,
                                     const std::optional<SandboxUser>& user) {
  std::error_code ec;
  std::string tmpl =
      ((user ? fs::temp_directory_path(ec) : cache) / "stoa-wasm-build-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot create a build directory ", tmpl, ": ", std::strerror(errno)));
  }
  if (user && chown(tmpl.c_str(), user->uid, user->gid) != 0) {
    const int err = errno;
    fs::remove_all(tmpl, ec);
    return absl::UnavailableError(
        absl::StrCat("cannot hand ", tmpl, " to the compile user: ", std::strerror(err)));
  }
  return fs::path(tmpl);
}

// Copies the tools' output into the cache (never following a link the
// sandbox user may have left) and renames it into place.
absl::Status Install(const fs::path& built, const std::string& target) {
  const int in = open(built.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (in >= 0) close(in);
    return absl::UnavailableError(absl::StrCat("the compiler left no object at ", built.string()));
  }
  std::string tmp = target + ".tmp-XXXXXX";
  const int out = mkstemp(tmp.data());
  bool ok = out >= 0 && fchmod(out, 0700) == 0;
  char buffer[1 << 16];
  for (ssize_t n; ok && (n = read(in, buffer, sizeof buffer)) != 0;) {
    ok = n > 0 && write(out, buffer, static_cast<size_t>(n)) == n;
  }
  close(in);
  if (out >= 0) close(out);
  if (!ok || rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot move the compiled module into ", target, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

// wasm2c, then cc, in `work` under the sandbox; the object is work/module.so.
absl::Status Build(std::string_view artifact, const std::string& glue, const fs::path& work,
                   const AotToolchain& toolchain, const std::optional<SandboxUser>& user,
                   std::string_view function) {
  {
    std::ofstream wasm(work / "module.wasm", std::ios::binary);
    wasm.write(artifact.data(), static_cast<std::streamsize>(artifact.size()));
    std::ofstream(work / "unit.c") << glue;
  }
  SandboxRun run;
  run.work_dir = work.string();
  run.user = user;
  run.deadline = std::chrono::steady_clock::now() +
                 std::chrono::seconds(std::max<uint32_t>(toolchain.limits.compile_timeout_s, 1));
  run.what = absl::StrCat("wasm AOT compile of '", std::string(function), "'");
  run.cancel = toolchain.cancel.get();
  run.orphan_cleanup_dir = work.string();
  run.argv = {toolchain.translator,        (work / "module.wasm").string(), "-n", "stoa", "-o",
              (work / "module.c").string()};
  run.log = (work / "wasm2c.log").string();
  absl::Status s = RunSandboxed(run, toolchain.limits);
  if (!s.ok()) return s;
  run.argv = {toolchain.compiler};
  for (std::string& flag : AotCompilerFlags(toolchain)) run.argv.push_back(std::move(flag));
  for (std::string arg : {"-I" + work.string(), (work / "unit.c").string(), std::string("-o"),
                          (work / "module.so").string(), std::string("-lm")}) {
    run.argv.push_back(std::move(arg));
  }
  run.log = (work / "cc.log").string();
  return RunSandboxed(run, toolchain.limits);
}

}  // namespace

std::string DefaultAotCacheDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return absl::StrCat(xdg, "/stoa/wasm");
  return absl::StrCat("/tmp/stoa-wasm-cache-", getuid());
}

std::vector<std::string> AotCompilerFlags(const AotToolchain& toolchain) {
  std::vector<std::string> flags = {toolchain.opt_level};
  for (absl::string_view flag : absl::StrSplit(toolchain.extra_flags, ' ', absl::SkipEmpty())) {
    flags.emplace_back(flag);
  }
  for (const char* flag :
       {"-fPIC", "-shared", "-fvisibility=hidden", "-fstack-clash-protection", "-DNDEBUG", "-w"}) {
    flags.emplace_back(flag);
  }
  return flags;
}

std::string GlueSource(const ModuleInfo& info) {
  std::string out(kGlueIncludes);
  // The decoder's table cap (interp_engine.h), so that table.grow stops
  // where it does in the interpreter.
  absl::StrAppend(&out, "#define STOA_MAX_TABLE_ENTRIES ", info.max_table_entries, "u\n");
  out.append(kAotHostTableC).append(kGlueRuntime);
  std::set<std::pair<std::string_view, std::string_view>> seen;
  std::set<std::string> modules;  // wasm2c's instantiate takes them in this order
  for (size_t i = 0; i < info.imports.size(); ++i) {
    const WasmImport& import = info.imports[i];
    modules.insert(import.module);
    if (seen.insert({import.module, import.name}).second) out += Forwarder(import, i);
  }
  // Every imported module's instance is the call's host context.
  std::string instantiate = "  Z_stoa_instantiate((Z_stoa_instance_t*)instance";
  for (const std::string& module : modules) {
    absl::StrAppend(&instantiate, ",\n                     (struct Z_", module,
                    "_instance_t*)wasi");
  }
  instantiate += ");\n";
  absl::StrAppend(
      &out, "\n/* Entry points (aot_engine.cc). */\nSTOA_EXPORT const uint32_t stoa_abi_version = ",
      kAotAbiVersion,
      ";\nSTOA_EXPORT size_t stoa_instance_size(void) { return sizeof(Z_stoa_instance_t); }\n"
      "STOA_EXPORT void stoa_bind(const struct stoa_wasm_host* host) {\n"
      "  if (stoa_host == host) return;\n  stoa_host = host;\n  Z_stoa_init_module();\n}\n"
      "STOA_EXPORT void stoa_instantiate(void* instance, void* wasi) {\n  stoa_unwind = NULL;\n",
      modules.empty() ? "  (void)wasi;\n" : "", instantiate,
      "}\nSTOA_EXPORT void stoa_start(void* instance) { "
      "Z_stoaZ__start((Z_stoa_instance_t*)instance); }\n"
      "STOA_EXPORT wasm_rt_memory_t* stoa_memory(void* instance) {\n",
      info.exports_memory ? "  return Z_stoaZ_memory((Z_stoa_instance_t*)instance);\n"
                          : "  (void)instance;\n  return NULL;\n",
      "}\nSTOA_EXPORT void stoa_free(void* instance) { "
      "Z_stoa_free((Z_stoa_instance_t*)instance); }\n");
  return out;
}

absl::StatusOr<AotObject> ProbeAotCache(std::string_view artifact, const ModuleInfo& info,
                                        const AotToolchain& toolchain) {
  absl::Status s = CheckCompilable(info);
  if (!s.ok()) return s;
  const fs::path dir = toolchain.cache_dir.empty() ? DefaultAotCacheDir() : toolchain.cache_dir;
  const std::string key = common::Sha256Hex(
      absl::StrCat("abi ", kAotAbiVersion, " ", toolchain.translator, " ", toolchain.compiler, " ",
                   absl::StrJoin(AotCompilerFlags(toolchain), " "), "\n", GlueSource(info)));
  AotObject object;
  object.path =
      (dir / absl::StrCat(common::Sha256Hex(artifact), "-", key.substr(0, 16), ".so")).string();
  s = CheckCacheDir(dir);
  if (!s.ok()) return s;
  std::error_code ec;
  object.cache_hit = fs::exists(object.path, ec);
  return object;
}

absl::StatusOr<AotObject> CompileAot(std::string_view artifact, const ModuleInfo& info,
                                     const AotToolchain& toolchain, std::string_view function) {
  absl::StatusOr<AotObject> probed = ProbeAotCache(artifact, info, toolchain);
  if (!probed.ok() || probed->cache_hit) return probed;
  AotObject object = *std::move(probed);
  const std::string glue = GlueSource(info);
  absl::Status s;
  const fs::path dir = fs::path(object.path).parent_path();
  std::error_code ec;
  // Its own copy of the key: `return object` moves the path out before
  // the cleanup runs.
  const std::string key_path = object.path;
  Gate().Enter(key_path, toolchain.limits.compile_concurrency);
  absl::Cleanup leave = [&key_path] { Gate().Leave(key_path); };
  if (fs::exists(object.path, ec)) {  // another thread compiled it meanwhile
    object.cache_hit = true;
    return object;
  }
  if (toolchain.cancel != nullptr && toolchain.cancel->load()) {
    return absl::CancelledError(
        absl::StrCat("wasm AOT compile of '", std::string(function), "' was cancelled"));
  }
  const std::optional<SandboxUser> user = ResolveSandboxUser(toolchain.compile_user);
  absl::StatusOr<fs::path> work = MakeWorkDir(dir, user);
  if (!work.ok()) return work.status();
  const auto start = std::chrono::steady_clock::now();
  s = Build(artifact, glue, *work, toolchain, user, function);
  if (s.ok()) s = Install(*work / "module.so", object.path);
  fs::remove_all(*work, ec);
  if (!s.ok()) return s;
  object.compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return object;
}

}  // namespace stoa::functions::wasm
