// PEM files for TLS (OpenSSL 3): certificates, private keys and the names
// of a verified peer, with errors that name the flag, the file and what is
// wrong ("--tls-cert /x/y.crt: no certificate found (PEM expected)"). Used
// by common/tls_context.h (the HTTPS server and client contexts).
//
// Error messages never carry key material: only file names, certificate
// subjects and dates, and OpenSSL's reason strings.
//
// Thread safety: pure functions; the returned objects are owned by the
// caller (unique_ptr with the OpenSSL free function).
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::common {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

// Every certificate in the PEM file `path`, in order (a leaf and its chain,
// or a CA bundle). `flag` names the setting in errors ("--tls-cert").
// NOT_FOUND / PERMISSION_DENIED when the file cannot be opened, INVALID_ARGUMENT
// when it holds no certificate or one that does not parse.
absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(const std::string& flag,
                                                      const std::string& path);

// The first private key in the PEM file `path` (any PEM private key form;
// an encrypted key is refused, never prompted for).
absl::StatusOr<EvpPkeyPtr> ReadPrivateKey(const std::string& flag, const std::string& path);

// INVALID_ARGUMENT when `cert` is outside its validity period now, naming
// `flag`, `path` and the date.
absl::Status CheckValidNow(const std::string& flag, const std::string& path, X509* cert);

// "CN=gateway, O=..., valid until Mar  3 10:00:00 2029 GMT": for log lines.
std::string DescribeCertificate(X509* cert);

// The names of the certificate the peer of `ssl` presented, when it verified
// (SSL_get_verify_result is X509_V_OK): the subject's CN first, then the
// DNS, IP, URI and email subjectAltNames. Empty when there is no peer
// certificate or it did not verify.
std::vector<std::string> VerifiedPeerNames(SSL* ssl);

// The reason of the most recent OpenSSL error (the error queue is cleared),
// or `fallback` when the queue is empty.
std::string TakeOpenSslError(const std::string& fallback = "unknown OpenSSL error");

}  // namespace stoa::common
