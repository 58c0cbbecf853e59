// stoa-bench-wasm: per-invocation latency and CPU time of the Wasm examples
// (a) as Stoa Wasm functions (WasmRuntime: fresh instance per call), on the
//     AOT engine (wasm2c + cc) and on the interpreter,
// (b) as the same C compiled natively and called in-process (the floor),
// (c) as the native command run as a fresh process per call (posix_spawn +
//     pipes: the isolation a container gives, minus the container);
// plus instantiation cost, peak memory per concurrent instance, and the
// one-time AOT compile cost at Load (cold cache vs warm cache).
// Every mode's output is checked against (b) before timing.
//
// Usage: stoa-bench-wasm [--iterations N] [--opt -O2] [--cflags "-march=native"]
//                        [--no-interp] [--cache-dir DIR] [--only NAME]
//                        [--examples DIR]
// Each mode runs up to N times (default 2000) or about 3 s, whichever comes
// first (at least 10 times); --opt is the C compiler's optimization flag for
// the AOT engine, --cflags more compiler flags for it; --only runs the
// workloads whose name starts with NAME; --examples reads the .wasm files
// from DIR (e.g. built with other flags); --no-interp skips the (slow) interpreter; --cache-dir
// keeps the compiled modules in DIR (default: a temporary directory, removed), so a profiler can
// resolve their symbols.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "example.h"
#include "functions/wasm/wasm_runtime.h"

extern char** environ;

namespace {

using Handler = const char* (*)(const char*, size_t, char**, size_t*);

struct Workload {
  std::string name;     // for the report
  std::string example;  // .wasm / native command name
  Handler handler;
  std::string input;
};

struct Stats {
  double mean_us = 0, p50_us = 0, p99_us = 0, cpu_us = 0;
  double minor_faults = 0;  // per invocation, calling thread only
  size_t n = 0;             // invocations measured
};

double ThreadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

long ThreadMinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

double NowUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Runs `call` up to n times or for about kBudgetUs (at least 10 times);
// call returns CPU time spent elsewhere (child processes), in microseconds.
constexpr double kBudgetUs = 3e6;
Stats Measure(int max_n, const std::function<double()>& call) {
  for (int i = 0; i < 3; ++i) call();  // warm-up
  std::vector<double> lat;
  double extra = 0;
  const double cpu0 = ThreadCpuUs();
  const long faults0 = ThreadMinorFaults();
  const double start = NowUs();
  while (static_cast<int>(lat.size()) < max_n && (lat.size() < 10 || NowUs() - start < kBudgetUs)) {
    const double t0 = NowUs();
    extra += call();
    lat.push_back(NowUs() - t0);
  }
  const double n = static_cast<double>(lat.size());
  Stats s;
  s.n = lat.size();
  s.cpu_us = (ThreadCpuUs() - cpu0 + extra) / n;
  s.minor_faults = static_cast<double>(ThreadMinorFaults() - faults0) / n;
  std::sort(lat.begin(), lat.end());
  for (double v : lat) s.mean_us += v / n;
  s.p50_us = lat[lat.size() / 2];
  s.p99_us = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
  return s;
}

std::string Native(const Workload& w) {
  char* out = nullptr;
  size_t len = 0;
  const char* err = w.handler(w.input.data(), w.input.size(), &out, &len);
  if (err != nullptr) {
    std::fprintf(stderr, "%s: native handler failed: %s\n", w.name.c_str(), err);
    std::exit(1);
  }
  std::string s(out, len);
  std::free(out);
  return s;
}

// Runs the native command once; returns its stdout, adds the child's CPU
// time (user + system, microseconds) and peak RSS (KiB) to the out-params.
std::string Spawn(const std::string& binary, const std::string& input, double* child_cpu_us,
                  long* child_maxrss_kb, const std::string& arg = "") {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) std::abort();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  for (int fd : {in[0], in[1], out[0], out[1]}) posix_spawn_file_actions_addclose(&actions, fd);
  char* argv[] = {const_cast<char*>(binary.c_str()),
                  arg.empty() ? nullptr : const_cast<char*>(arg.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv, environ) != 0) {
    std::fprintf(stderr, "cannot spawn %s\n", binary.c_str());
    std::exit(1);
  }
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  std::thread writer([&] {
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = write(in[1], input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(in[1]);
  });
  std::string result;
  char buf[65536];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) result.append(buf, static_cast<size_t>(n));
  close(out[0]);
  writer.join();
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  *child_cpu_us += usage.ru_utime.tv_sec * 1e6 + usage.ru_utime.tv_usec +
                   usage.ru_stime.tv_sec * 1e6 + usage.ru_stime.tv_usec;
  *child_maxrss_kb = std::max(*child_maxrss_kb, usage.ru_maxrss);
  return result;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

long VmHwmKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

std::string AnomalyInput(int n) {
  std::string s = R"({"sensor":"line-3/temp","threshold":3.5,"values":[)";
  for (int i = 0; i < n; ++i) {
    double v = 21.0 + 0.8 * std::sin(i / 9.0) + 0.05 * ((i * 7919) % 13 - 6);
    if (i % 97 == 42) v += 9.5;  // spikes
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.3f", i ? "," : "", v);
    s += buf;
  }
  return s + "]}";
}

std::string PgmInput(int side) {
  std::string s = "P5\n" + std::to_string(side) + " " + std::to_string(side) + "\n255\n";
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {  // a dark ring ("0") on white
      const double r = std::hypot(x - side / 2.0, (y - side / 2.0) * 0.7);
      s.push_back(static_cast<char>(std::fabs(r - side * 0.3) < side * 0.08 ? 20 : 235));
    }
  }
  return s;
}

std::string RawDigitInput() {
  std::string s(64, '\0');
  for (int i = 0; i < 64; ++i) s[i] = static_cast<char>((i * 37) % 256);
  return s;
}

// A minimal module: _start does nothing, one page of memory.
std::string NopModule() {
  const unsigned char b[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01,
                             0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00,
                             0x01, 0x07, 0x0a, 0x01, 0x06, '_',  's',  't',  'a',  'r',  't',
                             0x00, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};
  return std::string(reinterpret_cast<const char*>(b), sizeof b);
}

stoa::functions::LoadedFunctionPtr LoadOrDie(stoa::functions::WasmRuntime& runtime,
                                             const std::string& name, const std::string& bytes) {
  stoa::v1::FunctionSpec spec;
  spec.set_name(name);
  auto fn = runtime.Load(spec, bytes);
  if (!fn.ok()) {
    std::fprintf(stderr, "load %s: %s\n", name.c_str(), std::string(fn.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(fn);
}

std::string InvokeOrDie(stoa::functions::LoadedFunction& fn, const std::string& input) {
  stoa::functions::InvocationInput in;
  in.raw = input;
  auto out = fn.Invoke(in);
  if (!out.ok()) {
    std::fprintf(stderr, "invoke: %s\n", std::string(out.status().message()).c_str());
    std::exit(1);
  }
  return out->raw;
}

// A new directory named prefix-XXXXXX (prefix is an absolute path).
std::string MakeTempDir(const std::string& prefix) {
  std::string dir = prefix + "-XXXXXX";
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (mkdtemp(dir.data()) == nullptr) std::abort();
  return dir;
}

// Resets the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0).
void ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

// Peak RSS growth while 16 threads each run 3 invocations at once.
double PeakKibPerInstance(stoa::functions::LoadedFunction& fn, const std::string& input) {
  InvokeOrDie(fn, input);
  constexpr int kConcurrent = 16;
  ResetPeakRss();
  const long hwm0 = VmHwmKb();
  std::vector<std::thread> threads;
  for (int t = 0; t < kConcurrent; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3; ++i) InvokeOrDie(fn, input);
    });
  }
  for (std::thread& t : threads) t.join();
  return double(VmHwmKb() - hwm0) / kConcurrent;
}

}  // namespace

int main(int argc, char** argv) {
  using stoa::functions::WasmEngine;
  using stoa::functions::WasmRuntime;
  using stoa::functions::WasmRuntimeOptions;
  int iterations = 2000;
  std::string opt = "-O2";
  std::string cache_dir, cflags, only, examples;
  bool with_interp = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-interp") with_interp = false;
    if (i + 1 == argc) continue;
    if (arg == "--iterations") iterations = std::max(10, std::atoi(argv[i + 1]));
    if (arg == "--opt") opt = argv[i + 1];
    if (arg == "--cache-dir") cache_dir = argv[i + 1];
    if (arg == "--cflags") cflags = argv[i + 1];
    if (arg == "--only") only = argv[i + 1];
    if (arg == "--examples") examples = argv[i + 1];
  }
  const std::string wasm_dir = examples.empty() ? STOA_WASM_EXAMPLES_DIR : examples;
  const std::string bin_dir = STOA_NATIVE_BIN_DIR;

  // One-time AOT cost at Load: a fresh cache directory (wasm2c + cc) and the
  // same directory from a new runtime (what a restart or a second tier sees).
  const std::string cache = MakeTempDir(
      (cache_dir.empty() ? std::filesystem::temp_directory_path().string() : cache_dir) +
      "/stoa-bench-wasm-cache");
  WasmRuntimeOptions aot_options;
  aot_options.engine = WasmEngine::kAot;
  aot_options.aot_cache_dir = cache;
  aot_options.aot_opt_level = opt;
  aot_options.aot_extra_flags = cflags;
  std::printf("AOT compile at Load (cc %s %s):\n", opt.c_str(), cflags.c_str());
  for (const char* example : {"anomaly", "digits_pre"}) {
    const std::string wasm = ReadFile(wasm_dir + "/" + example + ".wasm");
    WasmRuntime cold(aot_options);
    double t0 = NowUs();
    LoadOrDie(cold, example, wasm);
    const double cold_ms = (NowUs() - t0) / 1000;
    WasmRuntime warm(aot_options);
    t0 = NowUs();
    LoadOrDie(warm, example, wasm);
    const double warm_ms = (NowUs() - t0) / 1000;
    std::printf(
        "  %-10s (%zu bytes): cold cache Load %.0f ms (wasm2c + cc %.0f ms), warm cache Load "
        "%.2f ms\n",
        example, wasm.size(), cold_ms, cold.stats().last_compile_ms, warm_ms);
    // Tiered (kAuto): Load returns on the interpreter, the compiled code is
    // swapped in later. A fresh cache, so the compile really runs.
    WasmRuntimeOptions tiered_options = aot_options;
    tiered_options.engine = WasmEngine::kAuto;
    tiered_options.aot_cache_dir = MakeTempDir(cache + "/tiered");
    WasmRuntime tiered(tiered_options);
    t0 = NowUs();
    auto fn = LoadOrDie(tiered, example, wasm);
    const double serving_ms = (NowUs() - t0) / 1000;
    WasmRuntime::AwaitCompiled(*fn, absl::Seconds(300));
    std::printf(
        "  %-10s tiered Load: serving (interpreter) after %.1f ms, compiled code swapped in "
        "after %.0f ms (engine now %s)\n",
        example, serving_ms, (NowUs() - t0) / 1000,
        WasmRuntime::EngineOf(*fn) == WasmEngine::kAot ? "aot" : "interp");
  }

  const std::vector<Workload> workloads = {
      {"anomaly, 64 readings", "anomaly", &anomaly_handle, AnomalyInput(64)},
      {"anomaly, 1024 readings", "anomaly", &anomaly_handle, AnomalyInput(1024)},
      {"digits_pre, raw 8x8", "digits_pre", &digits_pre_handle, RawDigitInput()},
      {"digits_pre, PGM 64x64", "digits_pre", &digits_pre_handle, PgmInput(64)},
  };
  WasmRuntime aot(aot_options);
  WasmRuntimeOptions interp_options;
  interp_options.engine = WasmEngine::kInterp;
  WasmRuntime interp(interp_options);
  std::printf("\nup to %d invocations or 3 s per mode; times in microseconds per invocation\n\n",
              iterations);
  std::printf("%-24s %-8s %6s %10s %10s %10s %10s\n", "workload", "mode", "n", "mean", "p50", "p99",
              "cpu");
  std::vector<std::string> ratios;
  for (const Workload& w : workloads) {
    if (!only.empty() && w.name.rfind(only, 0) != 0) continue;
    const std::string wasm = ReadFile(wasm_dir + "/" + w.example + ".wasm");
    auto fa = LoadOrDie(aot, w.example, wasm);
    auto fi = LoadOrDie(interp, w.example, wasm);
    const std::string binary = bin_dir + "/stoa-example-" + w.example;
    const std::string expected = Native(w);
    double cpu = 0;
    long rss = 0;
    if (InvokeOrDie(*fa, w.input) != expected || InvokeOrDie(*fi, w.input) != expected ||
        Spawn(binary, w.input, &cpu, &rss) != expected) {
      std::fprintf(stderr, "%s: outputs differ between wasm, native and process\n", w.name.c_str());
      return 1;
    }
    const Stats a = Measure(iterations, [&] {
      InvokeOrDie(*fa, w.input);
      return 0.0;
    });
    const Stats ai = with_interp ? Measure(iterations,
                                           [&] {
                                             InvokeOrDie(*fi, w.input);
                                             return 0.0;
                                           })
                                 : Stats{};
    const Stats b = Measure(iterations, [&] {
      Native(w);
      return 0.0;
    });
    long child_rss = 0;
    const Stats c = Measure(iterations, [&] {
      double child_cpu = 0;
      Spawn(binary, w.input, &child_cpu, &child_rss);
      return child_cpu;
    });
    // The same handler native against musl (wasi-libc's origin), looping in
    // its own process: the runtime's cost apart from the guest libc's.
    Stats m{};
    const std::string musl = bin_dir + "/stoa-example-musl-" + w.example;
    if (access(musl.c_str(), X_OK) == 0) {
      double unused = 0;
      if (Spawn(musl, w.input, &unused, &rss) != expected) {
        std::fprintf(stderr, "%s: the musl build's output differs\n", w.name.c_str());
        return 1;
      }
      std::istringstream timing(Spawn(musl, w.input, &unused, &rss, std::to_string(iterations)));
      timing >> m.p50_us >> m.cpu_us >> m.n;
      m.mean_us = m.p50_us;
    }
    for (const auto& [mode, s] :
         {std::pair{"aot", a}, {"interp", ai}, {"native", b}, {"musl", m}, {"process", c}}) {
      std::printf("%-24s %-8s %6zu %10.1f %10.1f %10.1f %10.1f\n", w.name.c_str(), mode, s.n,
                  s.mean_us, s.p50_us, s.p99_us, s.cpu_us);
    }
    if (m.n > 0) {
      char musl_line[200];
      std::snprintf(musl_line, sizeof musl_line,
                    "%-24s against native musl: a/musl latency %5.2f  cpu %5.2f; musl/glibc cpu "
                    "%5.2f",
                    w.name.c_str(), a.p50_us / m.p50_us, a.cpu_us / m.cpu_us, m.cpu_us / b.cpu_us);
      ratios.push_back(musl_line);
    }
    char line[320];
    std::snprintf(line, sizeof line,
                  "%-24s a/b latency %5.2f  cpu %5.2f (interp cpu %6.1f) | c/a latency %6.1f  "
                  "cpu %6.1f | process peak RSS %ld KiB",
                  w.name.c_str(), a.p50_us / b.p50_us, a.cpu_us / b.cpu_us, ai.cpu_us / b.cpu_us,
                  c.p50_us / a.p50_us, c.cpu_us / a.cpu_us, child_rss);
    ratios.push_back(line);
  }
  std::printf("\nratios (a = Stoa Wasm AOT; p50 latency, CPU per invocation):\n");
  for (const std::string& r : ratios) std::printf("%s\n", r.c_str());

  // Instantiation: a module whose _start does nothing (fresh instance,
  // memory, host imports, call), and the anomaly module on an empty request
  // (adds wasi-libc start-up, its data segments and its larger module).
  const std::string anomaly_wasm = ReadFile(wasm_dir + "/anomaly.wasm");
  std::printf("\n");
  for (WasmRuntime* runtime : {&aot, &interp}) {
    if (runtime == &interp && !with_interp) continue;
    const char* engine = runtime == &aot ? "aot" : "interp";
    auto nop = LoadOrDie(*runtime, "nop", NopModule());
    const Stats inst = Measure(iterations, [&] {
      InvokeOrDie(*nop, "");
      return 0.0;
    });
    auto anomaly = LoadOrDie(*runtime, "anomaly", anomaly_wasm);
    const Stats empty = Measure(iterations, [&] {
      stoa::functions::InvocationInput in;
      (void)anomaly->Invoke(in);  // exits 2 ("no values"): start-up + error path only
      return 0.0;
    });
    std::printf(
        "instantiation (%s): nop module p50 %.1f us (cpu %.1f us); anomaly.wasm start-up + "
        "empty request p50 %.1f us (cpu %.1f us, %.1f page faults)\n",
        engine, inst.p50_us, inst.cpu_us, empty.p50_us, empty.cpu_us, empty.minor_faults);
  }
  // Deadline: how far past limits.timeout_ms (50 ms) an endless loop runs.
  for (WasmRuntime* runtime : {&aot, &interp}) {
    if (runtime == &interp && !with_interp) continue;
    stoa::v1::FunctionSpec spec;
    spec.set_name("loop");
    spec.mutable_limits()->set_timeout_ms(50);
    auto loop = runtime->Load(spec, ReadFile(wasm_dir + "/loop.wasm"));
    if (!loop.ok()) continue;  // hostile examples not built
    std::vector<double> over;
    for (int i = 0; i < 20; ++i) {
      const double t0 = NowUs();
      (void)(*loop)->Invoke({});
      over.push_back((NowUs() - t0) / 1000 - 50);
    }
    std::sort(over.begin(), over.end());
    std::printf(
        "deadline (%s): endless loop stopped %.2f ms (median) / %.2f ms (max) after its "
        "50 ms timeout\n",
        runtime == &aot ? "aot" : "interp", over[over.size() / 2], over.back());
  }
  std::printf("memory reservations created by the AOT runtime so far: %llu\n",
              static_cast<unsigned long long>(aot.stats().memories_reserved));

  // Peak memory per concurrent instance: 16 threads invoking the anomaly
  // detector (1024 readings) at once; growth of the process's peak RSS.
  const std::string big = AnomalyInput(1024);
  auto anomaly_aot = LoadOrDie(aot, "anomaly", anomaly_wasm);
  auto anomaly_interp = LoadOrDie(interp, "anomaly", anomaly_wasm);
  const double aot_kib = PeakKibPerInstance(*anomaly_aot, big);
  const double interp_kib = with_interp ? PeakKibPerInstance(*anomaly_interp, big) : 0;
  std::printf(
      "peak memory: 16 concurrent anomaly instances (1024 readings): aot %.0f KiB per instance, "
      "interp %.0f KiB per instance\n",
      aot_kib, interp_kib);
  std::error_code ec;
  if (cache_dir.empty()) std::filesystem::remove_all(cache, ec);
  return 0;
}
