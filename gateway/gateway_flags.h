// stoa-gateway's command line: every flag, its default and its help text
// (the usage summary is at the top of gateway_main.cc). Parsing only; what
// the flags mean is resolved in gateway_main.cc and the modules they name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/metrics.h"
#include "common/request_limits.h"
#include "common/wasm_limits.h"
#include "executors/executor_tls_flags.h"
#include "executors/grpc_executor.h"
#include "gateway/events/event_flags.h"
#include "gateway/events/mqtt_flags.h"
#include "gateway/security_flags.h"
#include "gateway/target_spec.h"

namespace stoa::gateway {

struct GatewayFlags {
  std::string listen = "127.0.0.1:8080";
  std::string grpc_listen;  // the KServe v2 gRPC inference service; "" = off
  std::string data_dir = "./stoa-data";
  std::string cloud;
  std::string registry;        // etcd://HOST:PORT[,…]: shared state; "" = --data-dir only
  std::string artifact_store;  // with --registry: the shared content-addressed store
  int dns_interval_ms = 1000;  // how often dns:/// --cloud entries are re-resolved
  std::string edge = "in-process";
  // --target NAME=TIER:DEVICE:ADDR[,ADDR...], repeatable (gateway/target_spec.h).
  std::vector<std::string> targets;
  int edge_threads = 0;
  int edge_intra_op_threads = 1;
  std::string policy_file;
  int body_limit_mb = 16;
  int http_threads = 2;
  int max_connections = 0;
  int max_connections_per_client = 256;
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 30000;
  int shutdown_grace_ms = 10000;
  int shutdown_delay_ms = 0;    // unready but serving, before the listener closes
  bool pipeline_chains = true;  // consecutive remote stages in one executor call
  std::string log_level = "info";
  std::string tier_cost;    // "edge=0,cloud=1": per-request cost for the weighted policy
  std::string tier_energy;  // "edge=1,cloud=0.2": per-request energy for the weighted policy
  int status_interval_ms = 100;
  std::string trace_file;  // scheduler/decision_trace.h; "" = off
  int trace_max_mb = 256;
  std::string wasm_engine = "auto";
  std::string wasm_cache_dir;
  size_t metrics_max_series = common::metrics::kDefaultMaxSeries;
  uint32_t wasm_max_table_entries = 100'000;
  common::RequestLimitFlags limits;
  common::OnnxLimitFlags onnx_limits;
  uint32_t max_queue_per_tier = 0;
  uint32_t edge_max_queue = 0;
  common::WasmLimits wasm_limits;
  std::string wasm_compile_user = "nobody";
  SecurityFlags security;
  events::EventFlags events;
  executors::ExecutorTlsFlags executor_tls;
  events::MqttFlags mqtt;
  // Resolved in main: message sizes and mutual TLS of every GrpcExecutor.
  executors::GrpcExecutor::Options grpc;
  // Resolved in main from --edge, --cloud and --target.
  std::vector<TargetSpec> resolved_targets;
};

// Parses argv into `flags` (also a --config YAML file): -1 to go on, else
// the exit code (0 after --help, kExitBadFlags with the message on stderr).
int ParseGatewayFlags(int argc, char** argv, GatewayFlags& flags);

}  // namespace stoa::gateway
