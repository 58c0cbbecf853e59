#include "gateway/gateway_flags.h"

#include "CLI/CLI.hpp"
#include "common/cli.h"

namespace stoa::gateway {

int ParseGatewayFlags(int argc, char** argv, GatewayFlags& flags) {
  CLI::App app("stoa-gateway: the Stoa REST API, placing each invocation on the edge or cloud");
  app.add_option("--listen", flags.listen, "HOST:PORT (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--grpc-listen", flags.grpc_listen,
                 "HOST:PORT of the KServe v2 gRPC inference service (off when empty)");
  app.add_option("--data-dir", flags.data_dir, "where functions and the policy are stored")
      ->capture_default_str();
  app.add_option("--cloud", flags.cloud,
                 "HOST:PORT[,...] of stoa-executor processes forming the target 'cloud': several "
                 "form a pool (each call to the member predicted fastest, functions loaded on a "
                 "member at its first use, a dead member skipped); none: no such target");
  app.add_option("--registry", flags.registry,
                 "etcd://HOST:PORT[,...]: functions, policies and executor membership shared "
                 "through etcd (docs/scaling.md); default: the local --data-dir");
  app.add_option("--artifact-store", flags.artifact_store,
                 "with --registry: shared directory of artifacts by sha256 (every gateway mounts "
                 "it; executors with --artifact-store on the same volume load from it by key)");
  app.add_option("--dns-interval-ms", flags.dns_interval_ms,
                 "how often dns:///NAME:PORT entries of --cloud and --target are re-resolved")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  app.add_option("--edge", flags.edge,
                 "in-process, unix:PATH or HOST:PORT of a stoa-executor, or none")
      ->capture_default_str();
  app.add_option("--target", flags.targets,
                 "NAME=TIER:DEVICE:ADDR[,ADDR...]: one more placement target (repeatable); TIER "
                 "edge|cloud, DEVICE cpu|cuda, ADDR local (the in-process executor), unix:PATH "
                 "or HOST:PORT of a stoa-executor or dns:///NAME:PORT, several forming a pool; "
                 "no ADDR (NAME=TIER:DEVICE:): only executors announced for NAME, with "
                 "--registry; --edge and --cloud define the targets 'edge' and 'cloud' unless "
                 "set to none")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--edge-threads", flags.edge_threads,
                 "worker threads of the in-process edge executor (0: one per hardware thread)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  app.add_option("--edge-intra-op-threads", flags.edge_intra_op_threads,
                 "threads one ONNX invocation on the in-process edge may use")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--policy-file", flags.policy_file,
                 "YAML placement policy used at start-up when none was saved with PUT /v1/policy")
      ->check(CLI::ExistingFile);
  app.add_option("--body-limit-mb", flags.body_limit_mb, "largest request body, MiB")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--http-threads", flags.http_threads, "HTTP I/O threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--max-connections", flags.max_connections,
                 "open HTTP connections at most; more are accepted and closed at once (0: three "
                 "quarters of the file-descriptor limit, at most 10000)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--max-connections-per-client", flags.max_connections_per_client,
                 "open HTTP connections from one client IP address at most (0: no limit)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--header-timeout-ms", flags.header_timeout_ms,
                 "a request's header must arrive within this, else the connection is closed")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", flags.idle_timeout_ms,
                 "a connection waiting this long for a request (or a body stalled this long) "
                 "is closed")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  app.add_option("--shutdown-grace-ms", flags.shutdown_grace_ms,
                 "on SIGTERM/SIGINT, how long requests in flight may take to finish")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app.add_flag("--pipeline-chains,!--no-pipeline-chains", flags.pipeline_chains,
               "run a pipeline's consecutive stages placed on one remote target as one executor "
               "call (docs/pipelines.md); --no-pipeline-chains sends every stage on its own");
  app.add_option("--shutdown-delay-ms", flags.shutdown_delay_ms,
                 "on SIGTERM/SIGINT, first keep serving this long with /readyz answering 503, so "
                 "load balancers (a Kubernetes Service) stop sending before the listener closes")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--tier-cost", flags.tier_cost,
                 "per-request cost of each tier for the weighted policy, e.g. edge=0,cloud=1");
  app.add_option("--tier-energy", flags.tier_energy,
                 "per-request energy of each tier for the weighted policy, e.g. edge=1,cloud=0.2");
  app.add_option("--status-interval-ms", flags.status_interval_ms,
                 "period of the GetStatus probes of every tier (queue depth, link round trip, "
                 "health), default 100; 0 turns them off")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app.add_option("--trace-file", flags.trace_file,
                 "record every placement decision, its features, predictions and outcome as "
                 "JSON lines (for `stoa replay`)");
  app.add_option("--trace-max-mb", flags.trace_max_mb,
                 "rotate the trace file to FILE.1 past this size (0: never)")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  common::AddMetricsLimitFlag(app, flags.metrics_max_series);
  app.add_option("--max-queue-per-tier", flags.max_queue_per_tier,
                 "admission control: invocations waiting for a worker per tier at most; past it "
                 "(or when the predicted wait misses the deadline) 503 with Retry-After (0: 4 per "
                 "worker of the tier)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--edge-max-queue", flags.edge_max_queue,
                 "invocations queued for a worker of the in-process edge executor at most (0: 4 "
                 "per worker)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  common::AddWasmFlags(app, flags.wasm_engine, flags.wasm_cache_dir);
  common::AddWasmLimitFlags(app, flags.wasm_max_table_entries);
  common::AddRequestLimitFlags(app, flags.limits, /*gateway=*/true);
  common::AddOnnxLimitFlags(app, flags.onnx_limits);
  common::AddWasmModuleLimitFlags(app, flags.wasm_limits, flags.wasm_compile_user);
  AddSecurityFlags(app, flags.security);
  events::AddEventFlags(app, flags.events);
  executors::AddExecutorTlsFlags(app, flags.executor_tls);
  events::AddMqttFlags(app, flags.mqtt);
  return common::ParseCommandLine(app, argc, argv).value_or(-1);
}

}  // namespace stoa::gateway
