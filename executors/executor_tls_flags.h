// The gateway's flags for mutual TLS to its executors, so that
// gateway_main.cc only declares and applies them:
//
//   --executor-tls-cert FILE   the client certificate presented to executors
//                              (deploy/tls/make-dev-certs.sh: gateway.crt)
//   --executor-tls-key FILE    its private key (gateway.key)
//   --executor-tls-ca FILE     the CA that signed the executors' certificates
//   --executor-tls-server-name NAME  the name their certificates must carry,
//                              instead of each address's host (optional)
//
// The three files go together; none of them means plaintext. They apply to
// every GrpcExecutor the gateway makes (--cloud, --edge unix:PATH or
// HOST:PORT), so all executors share one CA and one client certificate.
// The files are read once, at start (executors/grpc_tls.h).
//
// Thread safety: call from main, before any GrpcExecutor is made.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "executors/grpc_executor.h"

namespace stoa::executors {

struct ExecutorTlsFlags {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  std::string server_name;
};

// Declares the four flags above on `app` (and so their YAML keys).
void AddExecutorTlsFlags(CLI::App& app, ExecutorTlsFlags& flags);

// Sets options.credentials (and tls_server_name) from the flags; leaves
// `options` alone when no file is given. INVALID_ARGUMENT naming the flags
// when only some files are given, or naming the file and the problem when
// one cannot be used (missing, not PEM, key not matching, expired).
absl::Status ApplyExecutorTlsFlags(const ExecutorTlsFlags& flags, GrpcExecutor::Options& options);

}  // namespace stoa::executors
