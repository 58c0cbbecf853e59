// The gateway's security flags (docs/security.md) and the secure-default
// rule: who may reach the gateway, over what.
//
//   --auth-file FILE             bearer tokens, roles, tenants (gateway/auth/)
//   --jwt-hs256-secret-file FILE, --jwt-rs256-public-key FILE,
//   --jwt-issuer S, --jwt-audience S, --jwt-leeway-s N
//   --metrics-public             GET /metrics without credentials
//   --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]   HTTPS
//   --executor-tls-cert FILE --executor-tls-key FILE --executor-tls-ca FILE
//   [--executor-tls-server-name NAME]   mutual TLS to the executors
//   --insecure                   listen on a non-loopback address without
//                                authentication
//
// Thread safety: plain values and pure functions.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "common/host_port.h"

namespace stoa::gateway {

struct SecurityFlags {
  std::string auth_file;
  std::string jwt_hs256_secret_file;
  std::string jwt_rs256_public_key;
  std::string jwt_issuer;
  std::string jwt_audience;
  int jwt_leeway_s = 30;
  bool metrics_public = false;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string executor_tls_cert;
  std::string executor_tls_key;
  std::string executor_tls_ca;
  std::string executor_tls_server_name;
  bool insecure = false;

  // Whether requests are authenticated (a token file or a JWT key).
  bool auth_enabled() const {
    return !auth_file.empty() || !jwt_hs256_secret_file.empty() || !jwt_rs256_public_key.empty();
  }
  bool tls_enabled() const { return !tls_cert.empty(); }
  bool executor_tls_enabled() const {
    return !executor_tls_cert.empty() || !executor_tls_key.empty() || !executor_tls_ca.empty();
  }
};

void AddSecurityFlags(CLI::App& app, SecurityFlags& flags);

// Whether `host` is a loopback address or name: 127.0.0.0/8, ::1,
// "localhost" (and names under .localhost).
bool IsLoopbackHost(const std::string& host);

// The flags' consistency (pairs given together) and the secure default:
// FAILED_PRECONDITION, saying why and what to do, when the gateway would
// listen on a non-loopback address without authentication and without
// --insecure.
absl::Status CheckSecurityFlags(const SecurityFlags& flags, const common::HostPort& listen);

}  // namespace stoa::gateway
