#include "gateway/security_flags.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {

void AddSecurityFlags(CLI::App& app, SecurityFlags& f) {
  app.add_option("--auth-file", f.auth_file,
                 "YAML file of bearer tokens (SHA-256 digests), roles and tenants; reloaded on "
                 "SIGHUP and when it changes (docs/security.md)");
  app.add_option("--jwt-hs256-secret-file", f.jwt_hs256_secret_file,
                 "accept JWTs signed with HS256 and the secret in this file");
  app.add_option("--jwt-rs256-public-key", f.jwt_rs256_public_key,
                 "accept JWTs signed with RS256 by this public key (PEM file)");
  app.add_option("--jwt-issuer", f.jwt_issuer, "JWTs must carry this iss");
  app.add_option("--jwt-audience", f.jwt_audience, "JWTs must carry this aud");
  app.add_option("--jwt-leeway-s", f.jwt_leeway_s, "clock skew allowed on JWT exp and nbf")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  app.add_flag("--metrics-public", f.metrics_public, "serve GET /metrics without credentials");
  app.add_option("--tls-cert", f.tls_cert,
                 "serve HTTPS with this certificate chain (PEM); reloaded on SIGHUP");
  app.add_option("--tls-key", f.tls_key, "the private key of --tls-cert (PEM)");
  app.add_option("--tls-client-ca", f.tls_client_ca,
                 "ask clients for certificates this CA signed; a certificate's CN or SAN can "
                 "stand for an identity of --auth-file");
  app.add_flag("--insecure", f.insecure,
               "allow listening on a non-loopback address without authentication");
}

namespace {

absl::Status Pair(const std::string& a, const char* a_flag, const std::string& b,
                  const char* b_flag) {
  if (a.empty() == b.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(a.empty() ? a_flag : b_flag, " is required with ", a.empty() ? b_flag : a_flag));
}

}  // namespace

absl::Status CheckSecurityFlags(const SecurityFlags& f, const common::HostPort& listen) {
  if (auto s = Pair(f.tls_cert, "--tls-cert", f.tls_key, "--tls-key"); !s.ok()) return s;
  if (!f.tls_client_ca.empty() && f.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (f.auth_enabled() || f.insecure || common::IsLoopbackListen(common::FormatHostPort(listen))) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing to listen on ", common::FormatHostPort(listen),
      " without authentication: anyone who can reach that address could register code, "
      "replace or delete functions and change the placement policy. Give --auth-file FILE "
      "(bearer tokens; with --tls-cert/--tls-key for HTTPS; docs/security.md), or listen on a "
      "loopback address (--listen 127.0.0.1:",
      listen.port, "), or, if every client that can reach it is trusted, pass --insecure"));
}

void GatewaySecurity::Reload() {
  if (tls != nullptr) {
    if (absl::Status s = tls->Reload(); !s.ok()) {
      spdlog::error("SIGHUP: HTTPS certificate not reloaded, the previous one stays in force: {}",
                    std::string(s.message()));
    } else {
      spdlog::info("SIGHUP: HTTPS certificate reloaded: {}", tls->summary());
    }
  }
  if (authenticator == nullptr) return;
  if (absl::Status s = authenticator->Reload(); !s.ok()) {
    spdlog::error("SIGHUP: credentials not reloaded, the previous ones stay in force: {}",
                  std::string(s.message()));
  } else {
    spdlog::info("SIGHUP: credentials reloaded ({} auth file entries)",
                 authenticator->identities());
  }
}

absl::StatusOr<GatewaySecurity> SetUpSecurity(const SecurityFlags& flags,
                                              const std::string& data_dir,
                                              common::metrics::Registry& metrics) {
  GatewaySecurity security;
  if (flags.auth_enabled()) {
    auth::Authenticator::Options options;
    options.auth_file = flags.auth_file;
    options.jwt_hs256_secret_file = flags.jwt_hs256_secret_file;
    options.jwt_rs256_public_key = flags.jwt_rs256_public_key;
    options.jwt_issuer = flags.jwt_issuer;
    options.jwt_audience = flags.jwt_audience;
    options.jwt_leeway_s = flags.jwt_leeway_s;
    auto authenticator = auth::Authenticator::Create(options, &metrics);
    if (!authenticator.ok()) return authenticator.status();
    security.authenticator = *std::move(authenticator);
    spdlog::info("authentication on: {} auth file entries{}{}",
                 security.authenticator->identities(),
                 flags.jwt_hs256_secret_file.empty() ? "" : ", HS256 JWTs",
                 flags.jwt_rs256_public_key.empty() ? "" : ", RS256 JWTs");
  } else {
    spdlog::warn("authentication off (no --auth-file): every caller may do everything");
  }
  AccessControl::Options access;
  access.metrics_public = flags.metrics_public;
  security.access = std::make_unique<AccessControl>(security.authenticator.get(), access);
  if (flags.tls_enabled()) {
    auto tls = common::TlsServerContext::Load(
        common::TlsServerFiles{flags.tls_cert, flags.tls_key, flags.tls_client_ca});
    if (!tls.ok()) return tls.status();
    security.tls = *std::move(tls);
    spdlog::info("HTTPS: {}", security.tls->summary());
  }
  auto audit = AuditLog::Open(data_dir + "/audit.log");
  if (!audit.ok()) return audit.status();
  security.audit = *std::move(audit);
  return security;
}

}  // namespace stoa::gateway
