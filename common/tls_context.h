// TLS contexts (Boost.Asio ssl on OpenSSL 3) for Stoa's HTTPS server and
// clients.
//
// TlsServerContext: the certificate, key and optional client CA of an HTTPS
// server (HttpServer::Options::tls), reloadable while the server runs.
//  - TLS 1.2 and 1.3 only (no SSLv2/3, TLS 1.0/1.1), ECDHE + AEAD ciphers
//    for TLS 1.2 in the server's order of preference, no compression, no
//    renegotiation.
//  - With a client CA, the server asks every client for a certificate: one
//    that the CA signed (for client authentication) is accepted and its
//    names reach the handler (HttpRequest::peer_names); one that does not
//    verify fails the handshake; none is fine (the client may still
//    authenticate with a bearer token).
//  - Load and Reload check everything before anything is used: the files
//    parse (PEM), the key matches the certificate, the certificate is valid
//    now. Errors name the flag and the file ("--tls-cert /x/y.crt: no
//    certificate found (PEM expected)"); they never carry key material.
//  - Reload builds a new ssl::context from the same paths and swaps it in
//    for new connections; on error the old one stays and the error is
//    returned (the caller logs it, e.g. from a SIGHUP callback). A
//    connection holds the context it started with (shared_ptr) until it
//    ends, so connections in progress are not disturbed.
// Thread safety: current(), Reload() and summary() from any thread.
//
// MakeTlsClientContext: the context of an HTTPS client (tools/http_client.h,
// the integration tests' harness): verifies the server against a CA file (or
// the system trust store), optionally presents a client certificate. Host
// name checking and SNI are per connection: ConfigureClientConnection.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/ssl/context.hpp"

namespace stoa::common {

struct TlsServerFiles {
  std::string cert_file;       // --tls-cert: PEM, the leaf first, then its chain
  std::string key_file;        // --tls-key: PEM, unencrypted
  std::string client_ca_file;  // --tls-client-ca: PEM CA bundle; "" = no client certificates
};

class TlsServerContext {
 public:
  // Builds the first context. INVALID_ARGUMENT / NOT_FOUND / PERMISSION_DENIED
  // naming the flag, the file and the problem.
  static absl::StatusOr<std::shared_ptr<TlsServerContext>> Load(TlsServerFiles files);

  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // Reads the files again; swaps the new context in on success, keeps the
  // old one on error (returned, as from Load). Concurrent calls are
  // serialized.
  absl::Status Reload();

  // The context new connections use; never null.
  std::shared_ptr<boost::asio::ssl::context> current() const;
  // "CN=..., valid until ...; client certificates from <CA subject>" for
  // log lines about the context in force.
  std::string summary() const;
  const TlsServerFiles& files() const { return files_; }
  bool verifies_clients() const { return !files_.client_ca_file.empty(); }

 private:
  TlsServerContext(TlsServerFiles files, std::shared_ptr<boost::asio::ssl::context> context,
                   std::string summary);

  const TlsServerFiles files_;
  absl::Mutex reload_mu_;  // serializes Reload (held while files are read)
  mutable absl::Mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_ ABSL_GUARDED_BY(mu_);
  std::string summary_ ABSL_GUARDED_BY(mu_);
};

struct TlsClientFiles {
  std::string ca_file;    // --cacert: PEM CA bundle; "" = the system trust store
  std::string cert_file;  // --cert: a client certificate (PEM), optional
  std::string key_file;   // --key: its key; required with cert_file
};

// A client context: TLS 1.2+, peer verification on. Errors as for
// TlsServerContext::Load, naming --cacert, --cert or --key.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeTlsClientContext(
    const TlsClientFiles& files);

// Prepares one client connection (`ssl` from the stream's native_handle())
// to `host`: SNI for a DNS name, and the certificate must match `host` (a
// DNS name or an IP address). INTERNAL when OpenSSL refuses the settings.
absl::Status ConfigureClientConnection(SSL* ssl, const std::string& host);

// A failed client handshake as a message for people: the verification
// result when there is one ("certificate verify failed: unable to get local
// issuer certificate"), else OpenSSL's reason.
std::string DescribeClientHandshakeError(SSL* ssl, const std::string& reason);

}  // namespace stoa::common
