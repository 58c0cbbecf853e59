// Mutual TLS on the gateway–executor gRPC link, built from PEM files
// (deploy/tls/make-dev-certs.sh writes a development set).
//
// Server (stoa-executor --tls-cert --tls-key --tls-client-ca):
// ExecutorServerCredentials requires every client to present a certificate
// that the client CA signed (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_
// AND_VERIFY); a client without one, with one another CA signed, or speaking
// plaintext fails its handshake, and its calls end UNAVAILABLE. The files are
// watched (grpc::experimental::FileWatcherCertificateProvider): rotated
// certificates, key and CA take effect for new connections within
// refresh_interval_s, without a restart. Replace the files atomically
// (write aside, then rename); a half-written or mismatched set is ignored by
// gRPC, which keeps the previous one. Connections already open keep the
// credentials they were established with.
//
// Client (the gateway's --executor-tls-cert --executor-tls-key
// --executor-tls-ca): ExecutorChannelCredentials presents the certificate and
// verifies the executor's certificate against the CA and the target's host
// name ("127.0.0.1:PORT" needs an IP SAN 127.0.0.1, "localhost:PORT" a DNS
// SAN; "unix:PATH" is checked as "localhost"); GrpcExecutor::Options::
// tls_server_name overrides the name checked. The three files are watched
// like the server's (FileWatcherCertificateProvider): a rotated client
// certificate, key or CA reaches new connections within refresh_interval_s,
// without a restart.
//
// Both check their files up front with OpenSSL, so a wrong path, a file
// that is not PEM, a key that does not belong to its certificate or an
// expired certificate is INVALID_ARGUMENT naming the file and the problem
// (never the key's contents) instead of handshakes that fail later.
//
// Thread safety: pure functions; the returned credentials are shareable.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace stoa::executors {

struct ServerTlsFiles {
  std::string cert_file;  // the executor's certificate (chain), PEM
  std::string key_file;   // its private key, PEM
  // CA certificate(s) whose clients get in, PEM. "": server-only TLS, no
  // client certificate asked (the gateway's KServe gRPC port, whose callers
  // bring bearer tokens); the executor's flags always require one.
  std::string client_ca_file;
  // How often gRPC re-reads the three files.
  unsigned int refresh_interval_s = 60;
};

struct ChannelTlsFiles {
  std::string ca_file;    // CA certificate(s) that signed the executors', PEM
  std::string cert_file;  // the client's certificate (chain), PEM
  std::string key_file;   // its private key, PEM
  // How often gRPC re-reads the three files.
  unsigned int refresh_interval_s = 60;
};

// INVALID_ARGUMENT when a file is missing, unreadable, holds no PEM
// certificate (key), the key does not match the certificate, or the
// certificate has expired or is not valid yet.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ExecutorServerCredentials(
    const ServerTlsFiles& files);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ExecutorChannelCredentials(
    const ChannelTlsFiles& files);

// The checks above, one file set at a time (also for tests and tools).
// CheckCertificateAndKey: `cert_file` holds at least one certificate, the
// first (the leaf) currently valid; `key_file` holds a private key matching
// it. CheckCaFile: at least one certificate. Return the PEM text read.
struct PemPair {
  std::string cert_pem;
  std::string key_pem;
};
absl::StatusOr<PemPair> CheckCertificateAndKey(const std::string& cert_file,
                                               const std::string& key_file);
absl::StatusOr<std::string> CheckCaFile(const std::string& ca_file);

}  // namespace stoa::executors
