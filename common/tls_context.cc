#include "common/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/ip/address.hpp"
#include "common/tls_pem.h"

namespace stoa::common {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: forward secret, AEAD only (Mozilla's "intermediate"
// list, ECDHE only). TLS 1.3 keeps OpenSSL's default suites.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// Sessions resume only on a context with the same id (required by OpenSSL
// when client certificates are verified).
constexpr unsigned char kSessionIdContext[] = "stoa-https";

struct Built {
  std::shared_ptr<ssl::context> context;
  std::string summary;
};

absl::StatusOr<std::shared_ptr<ssl::context>> NewContext(ssl::context::method method) {
  try {
    auto context = std::make_shared<ssl::context>(method);
    SSL_CTX* native = context->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                                    SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION |
                                    SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
      return absl::InternalError(absl::StrCat("TLS cipher list refused: ", TakeOpenSslError()));
    }
    return context;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot create a TLS context: ", e.what()));
  }
}

// Installs the certificate chain of `cert_flag` and the key of `key_flag`.
absl::Status UseCertificateAndKey(SSL_CTX* native, const std::string& cert_flag,
                                  const std::string& cert_file, const std::string& key_flag,
                                  const std::string& key_file, std::string* summary) {
  absl::StatusOr<std::vector<X509Ptr>> chain = ReadCertificates(cert_flag, cert_file);
  if (!chain.ok()) return chain.status();
  absl::StatusOr<EvpPkeyPtr> key = ReadPrivateKey(key_flag, key_file);
  if (!key.ok()) return key.status();
  X509* leaf = (*chain)[0].get();
  if (absl::Status s = CheckValidNow(cert_flag, cert_file, leaf); !s.ok()) return s;
  ERR_clear_error();
  if (SSL_CTX_use_certificate(native, leaf) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        cert_flag, " ", cert_file, ": certificate refused (", TakeOpenSslError(), ")"));
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(native, (*chain)[i].get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(cert_flag, " ", cert_file, ": certificate ",
                                                     i + 1, " refused (", TakeOpenSslError(), ")"));
    }
  }
  if (SSL_CTX_use_PrivateKey(native, key->get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(key_flag, " ", key_file,
                                                   ": the key does not match the certificate in ",
                                                   cert_flag, " ", cert_file));
  }
  *summary = DescribeCertificate(leaf);
  return absl::OkStatus();
}

// Trusts exactly the certificates of `file` (and, for a server, names them
// as acceptable client CAs).
absl::Status TrustCas(SSL_CTX* native, const std::string& flag, const std::string& file,
                      bool name_as_client_cas, std::string* summary) {
  absl::StatusOr<std::vector<X509Ptr>> cas = ReadCertificates(flag, file);
  if (!cas.ok()) return cas.status();
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  for (const X509Ptr& ca : *cas) {
    ERR_clear_error();
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", file, ": CA refused (", TakeOpenSslError(), ")"));
    }
    if (name_as_client_cas) SSL_CTX_add_client_CA(native, ca.get());
  }
  *summary = DescribeCertificate((*cas)[0].get());
  return absl::OkStatus();
}

absl::StatusOr<Built> BuildServer(const TlsServerFiles& files) {
  absl::StatusOr<std::shared_ptr<ssl::context>> context = NewContext(ssl::context::tls_server);
  if (!context.ok()) return context.status();
  SSL_CTX* native = (*context)->native_handle();
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1);
  Built built;
  built.context = *std::move(context);
  if (absl::Status s = UseCertificateAndKey(native, "--tls-cert", files.cert_file, "--tls-key",
                                            files.key_file, &built.summary);
      !s.ok()) {
    return s;
  }
  if (!files.client_ca_file.empty()) {
    std::string ca;
    if (absl::Status s = TrustCas(native, "--tls-client-ca", files.client_ca_file, true, &ca);
        !s.ok()) {
      return s;
    }
    // Ask, verify when given, but do not require: bearer tokens still work.
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_verify_depth(native, 4);
    absl::StrAppend(&built.summary, "; client certificates from ", ca);
  }
  return built;
}

}  // namespace

absl::StatusOr<std::shared_ptr<TlsServerContext>> TlsServerContext::Load(TlsServerFiles files) {
  absl::StatusOr<Built> built = BuildServer(files);
  if (!built.ok()) return built.status();
  return std::shared_ptr<TlsServerContext>(
      new TlsServerContext(std::move(files), std::move(built->context), std::move(built->summary)));
}

TlsServerContext::TlsServerContext(TlsServerFiles files,
                                   std::shared_ptr<boost::asio::ssl::context> context,
                                   std::string summary)
    : files_(std::move(files)), context_(std::move(context)), summary_(std::move(summary)) {}

absl::Status TlsServerContext::Reload() {
  absl::MutexLock reload(&reload_mu_);
  absl::StatusOr<Built> built = BuildServer(files_);
  if (!built.ok()) return built.status();
  std::shared_ptr<boost::asio::ssl::context> old;  // released outside the lock
  absl::MutexLock lock(&mu_);
  old = std::exchange(context_, std::move(built->context));
  summary_ = std::move(built->summary);
  return absl::OkStatus();
}

std::shared_ptr<boost::asio::ssl::context> TlsServerContext::current() const {
  absl::MutexLock lock(&mu_);
  return context_;
}

std::string TlsServerContext::summary() const {
  absl::MutexLock lock(&mu_);
  return summary_;
}

absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeTlsClientContext(
    const TlsClientFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together: give both or neither");
  }
  absl::StatusOr<std::shared_ptr<ssl::context>> context = NewContext(ssl::context::tls_client);
  if (!context.ok()) return context.status();
  SSL_CTX* native = (*context)->native_handle();
  std::string ignored;
  if (files.ca_file.empty()) {
    SSL_CTX_set_default_verify_paths(native);
  } else if (absl::Status s = TrustCas(native, "--cacert", files.ca_file, false, &ignored);
             !s.ok()) {
    return s;
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  if (!files.cert_file.empty()) {
    if (absl::Status s = UseCertificateAndKey(native, "--cert", files.cert_file, "--key",
                                              files.key_file, &ignored);
        !s.ok()) {
      return s;
    }
  }
  return context;
}

absl::Status ConfigureClientConnection(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (!ec) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      return absl::InternalError(absl::StrCat("TLS: cannot check the address ", host));
    }
    return absl::OkStatus();
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1 ||
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) != 1) {
    return absl::InternalError(absl::StrCat("TLS: cannot check the host name ", host));
  }
  return absl::OkStatus();
}

std::string DescribeClientHandshakeError(SSL* ssl, const std::string& reason) {
  const long result = SSL_get_verify_result(ssl);
  if (result != X509_V_OK) {
    return absl::StrCat("certificate verify failed: ", X509_verify_cert_error_string(result));
  }
  return reason;
}

}  // namespace stoa::common
