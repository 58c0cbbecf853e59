// The gateway's security flags (docs/security.md) and the secure-default
// rule: who may reach the gateway, over what.
//
//   --auth-file FILE             bearer tokens, roles, tenants (gateway/auth/)
//   --jwt-hs256-secret-file FILE, --jwt-rs256-public-key FILE,
//   --jwt-issuer S, --jwt-audience S, --jwt-leeway-s N
//   --metrics-public             GET /metrics without credentials
//   --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]   HTTPS
//   (mutual TLS to the executors: executors/executor_tls_flags.h)
//   --insecure                   listen on a non-loopback address without
//                                authentication
//
// Thread safety: plain values and pure functions.
#pragma once

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/host_port.h"
#include "common/metrics.h"
#include "common/tls_context.h"
#include "gateway/access_control.h"
#include "gateway/audit_log.h"
#include "gateway/auth/authenticator.h"

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
  bool insecure = false;

  // Whether requests are authenticated (a token file or a JWT key).
  bool auth_enabled() const {
    return !auth_file.empty() || !jwt_hs256_secret_file.empty() || !jwt_rs256_public_key.empty();
  }
  bool tls_enabled() const { return !tls_cert.empty(); }
};

void AddSecurityFlags(CLI::App& app, SecurityFlags& flags);

// The flags' consistency (pairs given together) and the secure default:
// FAILED_PRECONDITION, saying why and what to do, when the gateway would
// listen on a non-loopback address without authentication and without
// --insecure.
absl::Status CheckSecurityFlags(const SecurityFlags& flags, const common::HostPort& listen);

// What the flags make of the REST layer's security: who is calling
// (authenticator: null without --auth-file and JWT keys), what they may do
// (access), and where changes are recorded (audit, <data-dir>/audit.log).
struct GatewaySecurity {
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<AuditLog> audit;
  // HTTPS (null: plain HTTP): HttpServer::Options::tls.
  std::shared_ptr<common::TlsServerContext> tls;

  // SIGHUP: the auth file, JWT keys and the HTTPS certificate again; errors
  // are logged and the previous ones stay in force.
  void Reload();
};

// Errors name the flag or file (the gateway exits 2 on them).
absl::StatusOr<GatewaySecurity> SetUpSecurity(const SecurityFlags& flags,
                                              const std::string& data_dir,
                                              common::metrics::Registry& metrics);

}  // namespace stoa::gateway
