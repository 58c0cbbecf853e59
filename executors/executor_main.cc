// stoa-executor: serves the stoa.v1.Executor gRPC service over an
// InProcessExecutor with every runtime built into this binary.
//
//   stoa-executor --listen HOST:PORT|unix:PATH [--device cpu|cuda|auto]
//                 [--tls-cert FILE --tls-key FILE --tls-client-ca FILE]
//                 [--tls-client-name NAME...] [--tls-refresh-s N] [--insecure]
//                 [--threads N] [--intra-op-threads N] [--metrics-listen HOST:PORT]
//                 [--metrics-max-series N]
//                 [--wasm-engine auto|aot|interp] [--wasm-cache-dir DIR]
//                 [--shutdown-grace-ms N] [--max-queue N] [--max-timeout-ms N]
//                 [--max-output-mb N] [--max-artifact-mb N] [--health-listen HOST:PORT]
//                 [--onnx-max-memory-mb N] [--onnx-max-nodes N] [--onnx-max-initializer-mb N]
//                 [--log-level LEVEL] [--config FILE]
//                 [--announce etcd://HOST:PORT[,…] --target NAME [--advertise HOST:PORT]]
//                 [--artifact-store DIR]
//
// --artifact-store DIR: the shared content-addressed store the gateways
// write (docs/scaling.md); a gateway that has one names artifacts by store
// key and this executor reads them from DIR (executor_service.h).
//
// The first line of stdout is "stoa-executor listening on <address>" (the
// bound port when 0 was asked), flushed; logs go to stderr. Bad flags exit
// with code 2.
//
// Secure by default: --listen defaults to 127.0.0.1:50051. With --tls-cert,
// --tls-key and --tls-client-ca (always together) the gRPC port speaks
// mutual TLS and lets in only clients whose certificate that CA signed
// (executors/grpc_tls.h; the files are re-read every --tls-refresh-s, so a
// rotation needs no restart); --tls-client-name narrows that to certificates
// whose CN or a DNS SAN is one of the names given. A --listen or --metrics-listen address that is
// not loopback or unix: (common::IsLoopbackListen) is refused at start, exit
// 2, unless the gRPC port has TLS (the metrics port is plain HTTP, so it
// always needs --insecure off loopback) or --insecure is given, which logs a
// warning and serves plaintext on the network.
//
// Health (docs/kubernetes.md): the gRPC port serves grpc.health.v1.Health
// ("" and "stoa.v1.Executor": SERVING). --health-listen adds a plaintext
// port with only that service, for probes that cannot speak mutual TLS (the
// kubelet's grpc: probe); it tells nothing but SERVING/NOT_SERVING, so it
// may listen off loopback without --insecure.
//
// Shutdown (SIGINT/SIGTERM, common/stop_signals.h): the etcd announcement
// is withdrawn and health turns NOT_SERVING on both ports (the health port
// keeps answering so until the exit); calls are still accepted until none
// has arrived for --drain-quiet-ms (at most 8 times it: gateways need a
// moment to see the withdrawal); then the gRPC server stops accepting calls
// and connections and gives the calls in flight --shutdown-grace-ms; then
// gRPC cancels the rest (grpc::Server::Shutdown with a deadline); then the
// metrics server stops. Exit 0. Still running 1 s after the grace period
// (a function that runs until a far deadline and cannot be interrupted),
// the process exits 0 without waiting. A second signal exits at once with
// 128 + its number.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cluster/announcement.h"
#include "common/cli.h"
#include "common/host_port.h"
#include "common/large_buffers.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/request_limits.h"
#include "common/stop_signals.h"
#include "common/upload_spool.h"
#include "executors/artifact_store.h"
#include "executors/device.h"
#include "executors/executor_service.h"
#include "executors/grpc_tls.h"
#include "executors/in_process_executor.h"
#include "executors/metrics_http_server.h"
#include "functions/cuda/cuda_onnx_runtime.h"
#include "functions/function_runtime.h"

namespace {

using stoa::common::kExitBadFlags;
constexpr int kExitStartFailed = 1;
// How long past --shutdown-grace-ms the teardown may take before the
// process exits without it.
constexpr std::chrono::milliseconds kShutdownMargin(1000);

// Returns once `service` has received no work call for `quiet`, or after
// 8 x `quiet` (a gateway with nowhere else to send keeps calling).
void WaitForQuiet(const stoa::executors::ExecutorService& service,
                  std::chrono::milliseconds quiet) {
  if (quiet.count() <= 0) return;
  using Clock = std::chrono::steady_clock;
  const Clock::time_point give_up = Clock::now() + 8 * quiet;
  uint64_t seen = service.work_calls();
  Clock::time_point last_call = Clock::now();
  const auto tick = std::max(std::chrono::milliseconds(1), quiet / 10);
  while (Clock::now() < give_up && Clock::now() - last_call < quiet) {
    std::this_thread::sleep_for(tick);
    if (const uint64_t now = service.work_calls(); now != seen) {
      seen = now;
      last_call = Clock::now();
    }
  }
}

struct Flags {
  std::string listen = "127.0.0.1:50051";
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  unsigned int tls_refresh_s = 60;
  std::vector<std::string> tls_client_names;
  bool insecure = false;
  std::string device = "auto";
  int threads = 0;
  int intra_op_threads = 1;
  std::string wasm_engine = "auto";
  std::string wasm_cache_dir;
  uint32_t wasm_max_table_entries = 100'000;
  stoa::common::OnnxLimitFlags onnx_limits;
  stoa::common::WasmLimits wasm_limits;
  std::string wasm_compile_user = "nobody";
  std::string log_level = "info";
  std::string metrics_listen;
  std::string spool_dir;
  std::string artifact_store;
  size_t metrics_max_series = stoa::common::metrics::kDefaultMaxSeries;
  int shutdown_grace_ms = 10000;
  int drain_quiet_ms = 250;
  stoa::common::RequestLimitFlags limits;
  uint32_t max_queue = 0;
  std::string health_listen;
  std::string announce;  // etcd://HOST:PORT[,…]; "" = not announced
  std::string target = "cloud";
  std::string advertise;
  int announce_ttl_s = 3;
};

void AddSecurityFlags(CLI::App& app, Flags& flags) {
  app.add_option("--tls-cert", flags.tls_cert,
                 "PEM certificate of the gRPC port (mutual TLS; with --tls-key, --tls-client-ca)");
  app.add_option("--tls-key", flags.tls_key, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", flags.tls_client_ca,
                 "PEM CA certificate(s): only clients whose certificate it signed get in");
  app.add_option("--tls-client-name", flags.tls_client_names,
                 "let in only client certificates whose CN or a DNS SAN is NAME (repeatable; "
                 "e.g. gateway, so device certificates of the same CA stay out)");
  app.add_option("--tls-refresh-s", flags.tls_refresh_s,
                 "how often the TLS files are re-read (rotation without restart), seconds")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  app.add_flag("--insecure", flags.insecure,
               "allow plaintext gRPC (and /metrics) on a non-loopback address, at your own risk");
}

// Parses argv (with --config expanded). Returns an exit code when the
// process should stop (help: 0, bad flags: 2), -1 to go on.
int ParseFlags(int argc, char** argv, Flags& flags) {
  CLI::App app("stoa-executor: runs Stoa functions for a gateway, over gRPC");
  app.add_option("--listen", flags.listen, "HOST:PORT or unix:PATH (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--device", flags.device, "cpu, cuda or auto")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  app.add_option("--threads", flags.threads, "worker threads (0: one per hardware thread)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  app.add_option("--intra-op-threads", flags.intra_op_threads,
                 "threads one ONNX invocation may use (Conv, Gemm, pooling)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "HOST:PORT serving GET /metrics (off when empty)");
  app.add_option("--spool-dir", flags.spool_dir,
                 "where LoadFunctionStream writes artifacts while they arrive (default: the "
                 "system's temp directory); this executor's own: uploads a crash left there "
                 "are removed at start")
      ->check(CLI::ExistingDirectory);
  app.add_option("--artifact-store", flags.artifact_store,
                 "DIR: the shared artifact store (the gateways' --artifact-store volume, "
                 "mounted anywhere): load artifacts by their key there instead of receiving "
                 "the bytes")
      ->check(CLI::ExistingDirectory);
  stoa::common::AddMetricsLimitFlag(app, flags.metrics_max_series);
  app.add_option("--announce", flags.announce,
                 "etcd://HOST:PORT[,...]: register in etcd under a lease so gateways find this "
                 "executor");
  app.add_option("--target", flags.target, "with --announce: the target (pool) to join")
      ->capture_default_str();
  app.add_option(
      "--advertise", flags.advertise,
      "with --announce: HOST:PORT gateways dial (default: the bound --listen; for 0.0.0.0 the "
      "host name's address)");
  app.add_option("--announce-ttl-s", flags.announce_ttl_s,
                 "with --announce: lease TTL; a killed executor leaves the pool after it")
      ->check(CLI::Range(1, 60))
      ->capture_default_str();
  app.add_option("--health-listen", flags.health_listen,
                 "HOST:PORT of a plaintext gRPC port serving only grpc.health.v1.Health (for "
                 "probes that cannot present a client certificate; off when empty)");
  app.add_option("--shutdown-grace-ms", flags.shutdown_grace_ms,
                 "on SIGTERM/SIGINT, how long calls in flight may take to finish")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app.add_option("--drain-quiet-ms", flags.drain_quiet_ms,
                 "on SIGTERM/SIGINT, after withdrawing and turning NOT_SERVING, keep accepting "
                 "calls until none has arrived for this long (at most 8 times it), so that "
                 "gateways that have not yet seen the withdrawal are not refused; 0: stop at once")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  app.add_option("--max-queue", flags.max_queue,
                 "invocations queued for a worker at most; past it (or when the predicted wait "
                 "misses the deadline) Invoke is refused at once with RESOURCE_EXHAUSTED (0: 4 "
                 "per worker thread)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  AddSecurityFlags(app, flags);
  stoa::common::AddWasmFlags(app, flags.wasm_engine, flags.wasm_cache_dir);
  stoa::common::AddWasmLimitFlags(app, flags.wasm_max_table_entries);
  stoa::common::AddRequestLimitFlags(app, flags.limits, /*gateway=*/false);
  stoa::common::AddOnnxLimitFlags(app, flags.onnx_limits);
  stoa::common::AddWasmModuleLimitFlags(app, flags.wasm_limits, flags.wasm_compile_user);
  return stoa::common::ParseCommandLine(app, argc, argv).value_or(-1);
}

// The gRPC port's credentials (null: plaintext) after the secure-default
// rules of the file comment; an error message for stderr when they refuse.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenCredentials(const Flags& flags) {
  const int tls_files =
      !flags.tls_cert.empty() + !flags.tls_key.empty() + !flags.tls_client_ca.empty();
  if (tls_files != 0 && tls_files != 3) {
    return absl::InvalidArgumentError(
        "--tls-cert, --tls-key and --tls-client-ca go together: mutual TLS needs all three "
        "(without --tls-client-ca any client could connect)");
  }
  const char* kHowTo =
      "listen on loopback (127.0.0.1:PORT) or a unix: socket, or add --insecure to accept "
      "plaintext on the network at your own risk";
  if (tls_files == 0 && !stoa::common::IsLoopbackListen(flags.listen)) {
    if (!flags.insecure) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to listen on ", flags.listen,
          " without TLS: anyone who reaches it could list, load, run and unload functions. "
          "Give --tls-cert, --tls-key and --tls-client-ca (mutual TLS: only clients with a "
          "certificate that CA signed get in), ",
          kHowTo));
    }
    spdlog::warn(
        "--insecure: serving plaintext gRPC on {}: anyone who reaches it can load, run "
        "and unload functions",
        flags.listen);
  }
  if (!flags.metrics_listen.empty() && !stoa::common::IsLoopbackListen(flags.metrics_listen)) {
    if (!flags.insecure) {
      return absl::InvalidArgumentError(
          absl::StrCat("refusing to serve /metrics (plain HTTP, naming every loaded function) on ",
                       flags.metrics_listen, ": ", kHowTo));
    }
    spdlog::warn("--insecure: serving /metrics over plain HTTP on {}", flags.metrics_listen);
  }
  if (tls_files == 0) {
    if (!flags.tls_client_names.empty()) {
      return absl::InvalidArgumentError("--tls-client-name needs mutual TLS (--tls-cert, ...)");
    }
    return nullptr;
  }
  stoa::executors::ServerTlsFiles files{flags.tls_cert, flags.tls_key, flags.tls_client_ca,
                                        flags.tls_refresh_s};
  auto credentials = stoa::executors::ExecutorServerCredentials(files);
  if (!credentials.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert/--tls-key/--tls-client-ca: ", credentials.status().message()));
  }
  return credentials;
}

// The plaintext health-only port of --health-listen (null when not asked).
absl::StatusOr<std::unique_ptr<stoa::executors::GrpcServer>> StartHealthServer(
    const std::string& listen) {
  if (listen.empty()) return nullptr;
  stoa::executors::GrpcServer::Options options;
  options.health_service = true;
  auto started = stoa::executors::GrpcServer::Start(listen, nullptr, options);
  if (started.ok()) spdlog::info("gRPC health service on {}", (*started)->address());
  return started;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, so every Mutex acquisition also
  // updates a global lock-order graph under a global lock (deadlock
  // detection, a debugging aid): a cost on every request, and contention
  // between threads (9-10k instructions per invoke, measured with
  // callgrind). ThreadSanitizer (the tsan preset) still reports lock-order
  // inversions.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  stoa::common::KeepLargeBuffers();  // tensor-sized buffers reused, not re-faulted
  Flags flags;
  if (int code = ParseFlags(argc, argv, flags); code >= 0) return code;
  stoa::common::InitLogging("stoa-executor", flags.log_level);
  auto credentials = ListenCredentials(flags);
  if (!credentials.ok()) {
    std::cerr << "stoa-executor: " << credentials.status().message() << "\n";
    return kExitBadFlags;
  }

  // Before any thread starts: every thread inherits the mask.
  stoa::common::StopSignals signals;

  stoa::common::metrics::Registry registry(flags.metrics_max_series);
  auto device = stoa::executors::SelectDevice(flags.device, &registry);
  if (!device.ok()) {
    std::cerr << "stoa-executor: " << device.status().message() << "\n";
    return kExitStartFailed;
  }
  spdlog::info("device: {} ({}); kernels run on {}", device->selected, device->name,
               device->kernel_device);

  stoa::functions::RuntimeOptions runtime_options;
  runtime_options.intra_op_threads = flags.intra_op_threads;
  runtime_options.wasm_engine = flags.wasm_engine;
  runtime_options.wasm_cache_dir = flags.wasm_cache_dir;
  runtime_options.wasm_max_table_entries = flags.wasm_max_table_entries;
  runtime_options.onnx_max_nodes = flags.onnx_limits.max_nodes;
  runtime_options.onnx_max_initializer_mb = flags.onnx_limits.max_initializer_mb;
  runtime_options.onnx_max_memory_mb = flags.onnx_limits.max_memory_mb;
  runtime_options.wasm_limits = flags.wasm_limits;
  runtime_options.wasm_compile_user = flags.wasm_compile_user;
  stoa::functions::RuntimeSet runtimes = device->kernel_device == "cuda"
                                             ? stoa::functions::cuda::CudaRuntimes(runtime_options)
                                             : stoa::functions::DefaultRuntimes(runtime_options);
  stoa::executors::InProcessExecutor::Options options;
  options.threads = static_cast<size_t>(flags.threads);
  options.max_queue = flags.max_queue;
  options.device = device->kernel_device;
  options.device_name = device->name;
  const stoa::common::RequestLimits limits = flags.limits.Apply();
  options.max_timeout_ms = limits.max_timeout_ms;
  options.max_artifact_bytes = limits.max_artifact_bytes;
  options.max_output_bytes = limits.max_output_bytes;
  stoa::executors::InProcessExecutor executor(runtimes, options, &registry);
  if (!flags.spool_dir.empty()) {
    if (size_t stale = stoa::common::RemoveStaleUploads(flags.spool_dir); stale > 0) {
      spdlog::info("removed {} unfinished upload(s) from {}", stale, flags.spool_dir);
    }
  }
  std::optional<stoa::executors::ArtifactStore> store;
  if (!flags.artifact_store.empty()) {
    auto opened = stoa::executors::ArtifactStore::Open(flags.artifact_store);
    if (!opened.ok()) {
      std::cerr << "stoa-executor: " << opened.status().message() << "\n";
      return kExitBadFlags;
    }
    store = *std::move(opened);
    spdlog::info("artifact store: {}", store->dir());
  }
  stoa::executors::ExecutorService service(&executor, limits, flags.tls_client_names,
                                           flags.spool_dir);
  service.SetArtifactStore(store ? &*store : nullptr, &registry);

  stoa::executors::GrpcServer::Options server_options;
  server_options.max_message_bytes = stoa::common::GrpcMessageBytes(limits);
  server_options.credentials = *credentials;
  server_options.health_service = true;
  auto server = stoa::executors::GrpcServer::Start(flags.listen, &service, server_options);
  if (!server.ok()) {
    std::cerr << "stoa-executor: " << server.status().message() << "\n";
    return absl::IsInvalidArgument(server.status()) ? kExitBadFlags : kExitStartFailed;
  }
  auto health_server = StartHealthServer(flags.health_listen);
  if (!health_server.ok()) {
    std::cerr << "stoa-executor: --health-listen: " << health_server.status().message() << "\n";
    (*server)->Shutdown(0);
    return absl::IsInvalidArgument(health_server.status()) ? kExitBadFlags : kExitStartFailed;
  }
  std::unique_ptr<stoa::executors::MetricsHttpServer> metrics_server;
  if (!flags.metrics_listen.empty()) {
    auto started = stoa::executors::MetricsHttpServer::Start(
        flags.metrics_listen, [&registry] { return registry.Serialize(); });
    if (!started.ok()) {
      std::cerr << "stoa-executor: " << started.status().message() << "\n";
      (*server)->Shutdown(0);
      return absl::IsInvalidArgument(started.status()) ? kExitBadFlags : kExitStartFailed;
    }
    metrics_server = std::move(*started);
    spdlog::info("metrics on http://{}/metrics", metrics_server->address());
  }

  std::printf("stoa-executor listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);
  spdlog::info("serving on {} ({}) with {} threads", (*server)->address(),
               *credentials != nullptr ? "mutual TLS" : "plaintext",
               flags.threads > 0 ? flags.threads : std::thread::hardware_concurrency());

  std::unique_ptr<stoa::cluster::Announcement> announcement;
  if (!flags.announce.empty()) {
    auto started = stoa::cluster::Announcement::Start(
        {.etcd_url = flags.announce,
         .target = flags.target,
         .advertise = flags.advertise,
         .bound = (*server)->address(),
         .device = device->kernel_device,
         .capacity = static_cast<int>(flags.threads > 0 ? flags.threads
                                                        : std::thread::hardware_concurrency()),
         .ttl_s = flags.announce_ttl_s});
    if (!started.ok()) {
      std::cerr << "stoa-executor: " << started.status().message() << "\n";
      (*server)->Shutdown(0);
      return kExitBadFlags;
    }
    announcement = *std::move(started);
  }

  const int signal_number = signals.Wait();
  // Gateways stop picking this member before it stops taking calls.
  if (announcement) announcement->Withdraw();
  // Readiness first: probes see NOT_SERVING while the calls in flight drain.
  if (*health_server != nullptr) (*health_server)->SetServing(false);
  (*server)->SetServing(false);
  const std::chrono::milliseconds quiet(flags.drain_quiet_ms);
  signals.ExitAfter(std::chrono::milliseconds(flags.shutdown_grace_ms) + 8 * quiet +
                    kShutdownMargin);
  // gRPC's Shutdown refuses calls that arrive after it with CANCELLED (not
  // UNAVAILABLE, grpc/grpc#41785), which a gateway cannot safely retry; so
  // calls are still accepted until the gateways have stopped sending them.
  WaitForQuiet(service, quiet);
  // Past the grace period gRPC cancels the calls still running; each
  // reactor's OnCancel fires the call's CancelSignal and its runtime stops it.
  spdlog::info(
      "signal {}: shutting down: new calls refused; waiting up to {} ms for calls in flight, "
      "then cancelling them",
      signal_number, flags.shutdown_grace_ms);
  (*server)->Shutdown(flags.shutdown_grace_ms);
  health_server->reset();
  spdlog::info("shutdown: gRPC server stopped");
  if (announcement) announcement->Stop();
  metrics_server.reset();
  spdlog::info("stopped");
  return 0;
}
