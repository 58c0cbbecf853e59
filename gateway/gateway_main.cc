// stoa-gateway: the REST API of Stoa in front of an edge executor and a
// cloud executor.
//
//   stoa-gateway [--listen HOST:PORT] [--data-dir DIR] [--cloud HOST:PORT[,…]]
//                [--edge in-process|unix:PATH|HOST:PORT|none] [--edge-threads N]
//                [--target NAME=TIER:DEVICE:ADDR[,ADDR...]]...
//                [--edge-intra-op-threads N] [--status-interval-ms N]
//                [--trace-file FILE [--trace-max-mb N]]
//                [--wasm-engine auto|aot|interp] [--wasm-cache-dir DIR]
//                [--policy-file FILE] [--body-limit-mb N] [--http-threads N]
//                [--max-connections N] [--max-connections-per-client N]
//                [--header-timeout-ms N] [--idle-timeout-ms N] [--shutdown-grace-ms N]
//                [--log-level LEVEL] [--metrics-max-series N] [--max-json-depth N]
//                [--max-timeout-ms N] [--max-output-mb N] [--max-artifact-mb N]
//                [--max-upload-mb N] [--artifact-source-dir DIR]…
//                [--max-description-bytes N] [--max-multipart-parts N]
//                [--max-queue-per-tier N] [--edge-max-queue N]
//                [--onnx-max-memory-mb N] [--onnx-max-nodes N] [--onnx-max-initializer-mb N]
//                [--auth-file FILE] [--jwt-hs256-secret-file FILE] [--jwt-rs256-public-key FILE]
//                [--jwt-issuer S] [--jwt-audience S] [--jwt-leeway-s N] [--metrics-public]
//                [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
//                [--executor-tls-cert FILE --executor-tls-key FILE --executor-tls-ca FILE
//                 [--executor-tls-server-name NAME]] [--insecure]
//                [--events-commit-delay-ms N] [--events-max-mb N] [--events-retention-s N]
//                [--events-max-running N] [--events-max-attempts N] [--no-events]
//                [--mqtt-broker tcp://HOST:PORT|ssl://HOST:PORT [--mqtt-client-id ID]
//                 [--mqtt-username U --mqtt-password-file F] [--mqtt-tls-ca F]
//                 [--mqtt-tls-cert F --mqtt-tls-key F] [--mqtt-topic-prefix P]]
//                [--config FILE]
//
// Security (docs/security.md): listens on 127.0.0.1:8080 by default; a
// non-loopback --listen needs --auth-file (or a JWT key) unless --insecure
// (gateway/security_flags.h). SIGHUP reloads the auth file, the JWT keys
// and the HTTPS certificate.
//
// Start-up policy: the policy last set with PUT /v1/policy (saved in the
// data directory) wins, so a restart never undoes an operator's change;
// --policy-file (YAML) applies only when none was saved; else the defaults
// (FunctionLifecycle::Restore).
//
// The first line of stdout is "stoa-gateway listening on <host>:<port>"
// (the bound port when 0 was asked), flushed; logs go to stderr. Bad flags
// exit with code 2, a failure to start with 1.
//
// Shutdown (SIGINT/SIGTERM, common/stop_signals.h): readiness turns false
// (/readyz answers 503 "shutting down") while everything is still served for
// --shutdown-delay-ms (default 0: a load balancer's time to stop sending);
// then the listening socket is closed (new connections are refused), connections idle between
// requests are closed, requests in flight get up to --shutdown-grace-ms to be answered (with
// "Connection: close"); then the connections left are closed and the dispatcher is destroyed (it
// waits for executor calls still running). Exit 0. The whole stop is bounded: still running 1 s
// after the grace period (a Wasm call looping on the in-process edge, or a cloud call, until a far
// deadline), the process exits 0 without waiting for them. A second signal exits at once with 128 +
// its number.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/cli.h"
#include "common/host_port.h"
#include "common/http_server.h"
#include "common/large_buffers.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/request_limits.h"
#include "common/stop_signals.h"
#include "executors/executor_tls_flags.h"
#include "executors/grpc_executor.h"
#include "executors/in_process_executor.h"
#include "executors/pool_executor.h"
#include "functions/function_runtime.h"
#include "gateway/access_control.h"
#include "gateway/audit_log.h"
#include "gateway/auth/authenticator.h"
#include "gateway/dispatcher.h"
#include "gateway/events/event_flags.h"
#include "gateway/events/mqtt_flags.h"
#include "gateway/function_lifecycle.h"
#include "gateway/function_registry.h"
#include "gateway/gateway_cluster.h"
#include "gateway/gateway_flags.h"
#include "gateway/kserve_grpc_service.h"
#include "gateway/pipeline_invoker.h"
#include "gateway/registration_body.h"
#include "gateway/rest_api.h"
#include "gateway/security_flags.h"
#include "gateway/split_invoker.h"
#include "gateway/split_json.h"
#include "scheduler/placement_scheduler.h"
#include "scheduler/policy_config.h"

namespace {

using stoa::common::kExitBadFlags;
constexpr int kExitStartFailed = 1;
// How long past --shutdown-grace-ms the teardown may take before the
// process exits without it.
constexpr std::chrono::milliseconds kShutdownMargin(1000);
// Within the margin: how long requests cancelled at the end of the grace
// period have to be answered (their runtimes stop them at once).
constexpr int kCancelledAnswerMs = 600;

using Flags = stoa::gateway::GatewayFlags;

using stoa::scheduler::Tier;
using stoa::scheduler::TierIndex;
using Executors = std::array<stoa::executors::ExecutorPtr, stoa::scheduler::kNumTiers>;

// Messages large enough for the largest artifact and output, so that an
// executor's own refusal arrives rather than gRPC's.
stoa::executors::GrpcExecutor::Options GrpcOptionsFrom(const Flags& flags) {
  stoa::executors::GrpcExecutor::Options options;
  options.max_message_bytes = stoa::common::GrpcMessageBytes(flags.limits.Apply());
  return options;
}

void SetExecutorLimits(const stoa::common::RequestLimits& limits,
                       stoa::executors::InProcessExecutor::Options& options) {
  options.max_timeout_ms = limits.max_timeout_ms;
  options.max_artifact_bytes = limits.max_artifact_bytes;
  options.max_output_bytes = limits.max_output_bytes;
}

// The executor of each target (gateway/target_spec.h): the in-process
// executor, one stoa-executor, or a pool of them; `membership`, when set,
// serves the targets it holds (dns:/// entries, etcd announcements).
Executors MakeExecutors(const Flags& flags, const stoa::functions::RuntimeSet& runtimes,
                        stoa::common::metrics::Registry& metrics,
                        const stoa::cluster::TargetMembership* membership) {
  Executors executors;
  for (size_t i = 0; i < flags.resolved_targets.size(); ++i) {
    const stoa::gateway::TargetSpec& target = flags.resolved_targets[i];
    auto& executor = executors[i];
    if (membership != nullptr) executor = membership->Executor(target.info.name);
    if (executor != nullptr) {
      // dns:/// entries or etcd announcements (gateway_cluster.h)
    } else if (target.in_process) {
      stoa::executors::InProcessExecutor::Options options;
      options.threads = static_cast<size_t>(flags.edge_threads);
      SetExecutorLimits(flags.limits.Apply(), options);
      options.max_queue = flags.edge_max_queue;
      executor = std::make_unique<stoa::executors::InProcessExecutor>(runtimes, options, &metrics);
    } else if (target.addresses.size() == 1) {
      executor = std::make_unique<stoa::executors::GrpcExecutor>(target.addresses[0], flags.grpc);
    } else if (target.addresses.size() > 1) {
      std::vector<stoa::executors::ExecutorPtr> members;
      for (const std::string& address : target.addresses) {
        members.push_back(std::make_unique<stoa::executors::GrpcExecutor>(address, flags.grpc));
      }
      executor = std::make_unique<stoa::executors::PoolExecutor>(std::move(members));
    }
    spdlog::info("target {} ({}, {}): {}", target.info.name,
                 stoa::scheduler::TierClassText(target.info.tier),
                 stoa::scheduler::DeviceClassText(target.info.device),
                 executor ? executor->Describe() : "none");
  }
  return executors;
}

// Resolves --edge, --cloud and --target into flags.resolved_targets and
// installs their table (before any thread starts).
absl::Status ResolveTargetFlags(Flags& flags) {
  auto targets = stoa::gateway::ResolveTargets(flags.edge, flags.cloud, flags.targets);
  if (!targets.ok()) return targets.status();
  auto table = stoa::gateway::TableOf(*targets);
  if (!table.ok()) return table.status();
  stoa::scheduler::InstallTargets(*std::move(table));
  flags.resolved_targets = *std::move(targets);
  return absl::OkStatus();
}

// The scheduler's options from the targets, --tier-cost and --tier-energy.
absl::StatusOr<stoa::scheduler::SchedulerOptions> SchedulerOptionsFrom(const Flags& flags) {
  stoa::scheduler::SchedulerOptions options;
  options.figures = stoa::scheduler::TierFigures::For(stoa::scheduler::Targets());
  for (size_t i = 0; i < flags.resolved_targets.size(); ++i) {
    if (flags.resolved_targets[i].in_process) options.in_process.Add(stoa::scheduler::TierAt(i));
  }
  for (auto [text, what, values] :
       {std::tuple{&flags.tier_cost, "--tier-cost", &options.figures.cost},
        std::tuple{&flags.tier_energy, "--tier-energy", &options.figures.energy}}) {
    if (auto s = stoa::scheduler::ParseTierValues(*text, what, *values); !s.ok()) return s;
  }
  return options;
}

// The HTTP server's options from the flags.
stoa::common::HttpServer::Options HttpOptionsFrom(const Flags& flags,
                                                  const stoa::common::HostPort& listen) {
  stoa::common::HttpServer::Options options;
  options.host = listen.host;
  options.port = listen.port;
  options.threads = flags.http_threads;
  options.body_limit = static_cast<uint64_t>(flags.body_limit_mb) * 1024 * 1024;
  options.max_connections = flags.max_connections;
  options.max_connections_per_client = flags.max_connections_per_client;
  options.header_timeout_ms = flags.header_timeout_ms;
  options.idle_timeout_ms = flags.idle_timeout_ms;
  return options;
}

// The HTTP half of the shutdown: stop accepting, drain for the grace
// period, cancel what still runs (each request's cancel signal: its
// invocation is withdrawn end to end and answered CANCELLED), close what is
// left.
void StopServing(stoa::common::HttpServer& server, int signal_number, int grace_ms) {
  stoa::common::HttpServer::Stats stats = server.stats();
  spdlog::info(
      "signal {}: shutting down: new connections refused; waiting up to {} ms for {} requests "
      "in flight ({} connections open)",
      signal_number, grace_ms, stats.requests_in_flight, stats.connections);
  size_t left = server.Drain(grace_ms);
  stats = server.stats();
  if (left != 0 && stats.requests_in_flight > 0) {
    spdlog::warn("shutdown: grace period over; cancelling {} requests in flight",
                 stats.requests_in_flight);
    server.CancelInFlight();
    left = server.Drain(kCancelledAnswerMs);
    stats = server.stats();
  }
  if (left == 0) {
    spdlog::info("shutdown: every request answered");
  } else {
    spdlog::warn("shutdown: closing {} connections ({} requests unanswered)", left,
                 stats.requests_in_flight);
  }
  server.Stop();
}

// Runs the gateway until a stop signal, then shuts it down; the exit code.
int Serve(const Flags& flags, const stoa::common::HttpServer::Options& http_options,
          const stoa::scheduler::SchedulerOptions& scheduler_options,
          stoa::common::StopSignals& signals) {
  stoa::common::metrics::Registry metrics(flags.metrics_max_series);
  auto cluster = stoa::gateway::StartCluster(flags);
  if (!cluster.ok()) {
    std::cerr << "stoa-gateway: " << cluster.status().message() << "\n";
    return kExitBadFlags;
  }
  auto registry = stoa::gateway::OpenFunctionStore(flags, *cluster);
  if (!registry.ok()) {
    std::cerr << "stoa-gateway: " << registry.status().message() << "\n";
    return absl::IsInvalidArgument(registry.status()) ? kExitBadFlags : kExitStartFailed;
  }
  stoa::functions::RuntimeOptions runtime_options;
  runtime_options.intra_op_threads = flags.edge_intra_op_threads;
  runtime_options.wasm_engine = flags.wasm_engine;
  runtime_options.wasm_cache_dir = flags.wasm_cache_dir;
  runtime_options.wasm_max_table_entries = flags.wasm_max_table_entries;
  runtime_options.onnx_max_nodes = flags.onnx_limits.max_nodes;
  runtime_options.onnx_max_initializer_mb = flags.onnx_limits.max_initializer_mb;
  runtime_options.onnx_max_memory_mb = flags.onnx_limits.max_memory_mb;
  runtime_options.wasm_limits = flags.wasm_limits;
  runtime_options.wasm_compile_user = flags.wasm_compile_user;
  stoa::functions::RuntimeSet runtimes = stoa::functions::DefaultRuntimes(runtime_options);

  std::unique_ptr<stoa::scheduler::DecisionTrace> trace;
  if (!flags.trace_file.empty()) {
    auto opened = stoa::scheduler::DecisionTrace::Open(
        flags.trace_file, static_cast<uint64_t>(flags.trace_max_mb) << 20);
    if (!opened.ok()) {
      std::cerr << "stoa-gateway: --trace-file: " << opened.status().message() << "\n";
      return kExitStartFailed;
    }
    trace = std::move(*opened);
  }
  stoa::scheduler::SchedulerOptions traced_options = scheduler_options;
  traced_options.trace = trace.get();
  const uint64_t scheduler_seed = std::random_device()();
  stoa::scheduler::PlacementScheduler scheduler(stoa::common::RealClock::Get(), &metrics,
                                                scheduler_seed, {}, traced_options);
  // Split functions (docs/split.md) are placed in front of the dispatcher;
  // declared before it, so the dispatcher's last callbacks still find them.
  stoa::scheduler::SplitPlanner split_planner({.weight = 0.3,
                                               .explore = 0.05,
                                               .default_rate_bytes_per_ms = 12'500.0,
                                               .seed = scheduler_seed});
  std::unique_ptr<stoa::gateway::SplitInvoker> split_invoker;
  // Async events waiting in the durable queue, counted in the scheduler's
  // queue term (docs/events.md); outlives the dispatcher and the queue.
  stoa::gateway::events::QueuedWork queued_work;
  stoa::gateway::Dispatcher::Options dispatcher_options;
  dispatcher_options.queued_work = &queued_work;
  dispatcher_options.status_interval_ms = static_cast<uint32_t>(flags.status_interval_ms);
  dispatcher_options.default_timeout_ms =
      std::min(dispatcher_options.default_timeout_ms, flags.limits.limits.max_timeout_ms);
  dispatcher_options.admission.max_queue_per_tier = flags.max_queue_per_tier;
  stoa::gateway::Dispatcher dispatcher(
      MakeExecutors(flags, runtimes, metrics, cluster->membership.get()), scheduler,
      stoa::common::RealClock::Get(), metrics, dispatcher_options);
  split_invoker = std::make_unique<stoa::gateway::SplitInvoker>(
      dispatcher, split_planner, stoa::common::RealClock::Get(), metrics,
      stoa::gateway::SplitInvoker::Options{.default_timeout_ms =
                                               dispatcher_options.default_timeout_ms});
  // Pipelines run their stages through split inference and the dispatcher
  // (docs/pipelines.md, docs/split.md).
  stoa::gateway::PipelineInvoker invoker(
      *split_invoker,
      [&functions = **registry](const std::string& name) { return functions.Get(name); },
      stoa::common::RealClock::Get(), metrics, flags.pipeline_chains ? &scheduler : nullptr);
  stoa::gateway::FunctionLifecycle lifecycle(**registry, runtimes, invoker, scheduler);
  if (auto s = lifecycle.Restore(flags.policy_file); !s.ok()) {
    std::cerr << "stoa-gateway: policy: " << s.message() << "\n";
    return kExitBadFlags;
  }
  if (trace) {
    trace->RecordStart(scheduler_seed, traced_options.in_process,
                       stoa::common::RealClock::Get().NowMicros(), scheduler.GetPolicy());
  }
  auto security = stoa::gateway::SetUpSecurity(flags.security, flags.data_dir, metrics);
  if (!security.ok()) {
    std::cerr << "stoa-gateway: " << security.status().message() << "\n";
    return kExitBadFlags;
  }
  signals.OnReload([&security] { security->Reload(); });
  if (flags.mqtt.enabled() && flags.events.disabled) {
    std::cerr << "stoa-gateway: --mqtt-broker needs the event queue: drop --no-events\n";
    return kExitBadFlags;
  }
  // The MQTT bridge registers its result listener before the queue starts,
  // and stops (stop_mqtt, declared after `events`) before the queue goes.
  std::unique_ptr<stoa::gateway::events::MqttService> mqtt;
  auto events = stoa::gateway::events::StartEvents(
      flags.events, flags.data_dir, flags.limits.Apply(), lifecycle, invoker, metrics, &queued_work,
      [&](stoa::gateway::events::EventQueue& queue) -> absl::Status {
        if (!flags.mqtt.enabled()) return absl::OkStatus();
        auto started = stoa::gateway::events::StartMqtt(flags.mqtt, flags.data_dir, queue,
                                                        http_options.body_limit, metrics);
        if (!started.ok()) return started.status();
        mqtt = *std::move(started);
        return absl::OkStatus();
      });
  if (!events.ok()) {
    std::cerr << "stoa-gateway: events: " << events.status().message() << "\n";
    return events.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadFlags
                                                                        : kExitStartFailed;
  }
  absl::Cleanup stop_mqtt = [&mqtt] {
    if (mqtt) mqtt->Stop();
  };
  stoa::gateway::RestApi::Options api_options;
  api_options.limits = flags.limits.Apply();
  api_options.events = events->queue.get();
  api_options.access = security->access.get();
  api_options.audit = security->audit.get();
  api_options.upload_dir = (*registry)->upload_dir();
  api_options.split_state = [&split_invoker](const std::vector<stoa::v1::FunctionSpec>& specs) {
    return stoa::gateway::SplitViewsToJson(split_invoker->Views(specs));
  };
  stoa::gateway::RestApi api(lifecycle, invoker, scheduler, metrics, api_options);
  stoa::gateway::KserveGrpcService kserve_grpc(
      lifecycle, invoker, {.access = security->access.get(), .limits = api_options.limits});
  std::unique_ptr<stoa::executors::GrpcServer> grpc_server;
  if (!flags.grpc_listen.empty()) {
    auto started = stoa::gateway::StartKserveGrpcServer(
        flags.grpc_listen, kserve_grpc,
        {.tls_cert_file = flags.security.tls_cert,
         .tls_key_file = flags.security.tls_key,
         .max_message_bytes = stoa::common::GrpcMessageBytes(api_options.limits)});
    if (!started.ok()) {
      std::cerr << "stoa-gateway: --grpc-listen: " << started.status().message() << "\n";
      return kExitStartFailed;
    }
    grpc_server = *std::move(started);
    spdlog::info("KServe v2 gRPC inference service on {}", grpc_server->address());
  }
  stoa::common::HttpServer::Options serving = http_options;
  serving.tls = security->tls;
  // Registrations stream to <data-dir>/uploads under --max-upload-mb.
  serving.upload_limit = [limit = api_options.limits.max_upload_bytes](std::string_view method,
                                                                       std::string_view path) {
    return stoa::gateway::RegistrationUploadLimit(method, path, limit);
  };
  serving.upload_dir = (*registry)->upload_dir();
  serving.upload_limit_name = "the upload limit: --max-upload-mb";
  stoa::common::HttpServer server(serving, api);
  auto port = server.Start();
  if (!port.ok()) {
    std::cerr << "stoa-gateway: " << port.status().message() << "\n";
    return kExitStartFailed;
  }
  std::printf("stoa-gateway listening on %s\n",
              stoa::common::FormatHostPort(http_options.host, *port).c_str());
  std::fflush(stdout);
  spdlog::info("{} functions registered; serving {}://{}", (*registry)->List().size(),
               serving.tls ? "https" : "http",
               stoa::common::FormatHostPort(http_options.host, *port));

  const int signal_number = signals.Wait();
  signals.ExitAfter(std::chrono::milliseconds(flags.shutdown_delay_ms + flags.shutdown_grace_ms) +
                    kShutdownMargin);
  api.SetShuttingDown();
  if (flags.shutdown_delay_ms > 0) {
    // Unready but serving: the load balancer stops sending before the
    // listener closes (a second signal still exits at once).
    spdlog::info("signal {}: /readyz answers 503; still serving for {} ms", signal_number,
                 flags.shutdown_delay_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(flags.shutdown_delay_ms));
  }
  // Both front doors drain at once, within the one grace period.
  std::thread grpc_drain;
  if (grpc_server != nullptr) {
    grpc_drain = std::thread([&] { grpc_server->Shutdown(flags.shutdown_grace_ms); });
  }
  StopServing(server, signal_number, flags.shutdown_grace_ms);
  if (grpc_drain.joinable()) grpc_drain.join();
  spdlog::info("shutdown: stopping the executors (waiting at most {} ms for calls still running)",
               kShutdownMargin.count());
  return 0;
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
  if (int code = stoa::gateway::ParseGatewayFlags(argc, argv, flags); code >= 0) return code;
  stoa::common::InitLogging("stoa-gateway", flags.log_level);

  absl::StatusOr<stoa::common::HostPort> listen = stoa::common::ParseHostPort(flags.listen);
  if (!listen.ok()) {
    std::cerr << "stoa-gateway: --listen: " << listen.status().message() << "\n";
    return kExitBadFlags;
  }
  if (auto s = stoa::gateway::CheckSecurityFlags(flags.security, *listen); !s.ok()) {
    std::cerr << "stoa-gateway: " << s.message() << "\n";
    return kExitBadFlags;
  }
  if (!flags.grpc_listen.empty()) {
    // The gRPC port is held to the same rule as --listen: off loopback only
    // with credentials (or --insecure).
    absl::StatusOr<stoa::common::HostPort> grpc = stoa::common::ParseHostPort(flags.grpc_listen);
    absl::Status s =
        grpc.ok() ? stoa::gateway::CheckSecurityFlags(flags.security, *grpc) : grpc.status();
    if (!s.ok()) {
      std::cerr << "stoa-gateway: --grpc-listen: " << s.message() << "\n";
      return kExitBadFlags;
    }
  }
  flags.grpc = GrpcOptionsFrom(flags);
  flags.grpc.artifact_store = flags.artifact_store;  // executors may load by store key
  if (auto s = stoa::executors::ApplyExecutorTlsFlags(flags.executor_tls, flags.grpc); !s.ok()) {
    std::cerr << "stoa-gateway: " << s.message() << "\n";
    return kExitBadFlags;
  }
  const bool loopback = stoa::common::IsLoopbackListen(flags.listen);
  if (flags.security.insecure && !flags.security.auth_enabled() && !loopback) {
    spdlog::warn(
        "--insecure: serving {} without authentication: anyone who can reach it may "
        "register code and change the placement policy",
        stoa::common::FormatHostPort(*listen));
  }
  if (flags.security.auth_enabled() && !flags.security.tls_enabled() && !loopback) {
    spdlog::warn(
        "serving {} over plain HTTP: bearer tokens cross the network in clear text "
        "(give --tls-cert and --tls-key, or terminate TLS in front of the gateway)",
        stoa::common::FormatHostPort(*listen));
  }
  if (auto s = ResolveTargetFlags(flags); !s.ok()) {
    std::cerr << "stoa-gateway: " << s.message() << "\n";
    return kExitBadFlags;
  }
  auto scheduler_options = SchedulerOptionsFrom(flags);
  if (!scheduler_options.ok()) {
    std::cerr << "stoa-gateway: " << scheduler_options.status().message() << "\n";
    return kExitBadFlags;
  }
  stoa::common::StopSignals signals;
  const int code = Serve(flags, HttpOptionsFrom(flags, *listen), *scheduler_options, signals);
  if (code == 0) spdlog::info("stopped");
  return code;
}
