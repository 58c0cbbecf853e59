#include "executors/grpc_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace stoa::executors {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

absl::Status Bad(const std::string& what, const std::string& path, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(what, " file '", path, "' ", problem));
}

absl::StatusOr<std::string> Read(const std::string& what, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("no ", what, " file given"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Bad(what, path, "cannot be opened (missing, or not readable)");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Bad(what, path, "cannot be read");
  return std::move(text).str();
}

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The certificates in `pem`, in order; empty when there is none.
std::vector<X509Ptr> Certificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the input reads as an error
  return out;
}

absl::Status CheckValidity(const X509* cert, const std::string& path) {
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return Bad("certificate", path, "holds a certificate that is not valid yet");
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return Bad("certificate", path, "holds a certificate that has expired");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PemPair> CheckCertificateAndKey(const std::string& cert_file,
                                               const std::string& key_file) {
  PemPair pair;
  ASSIGN_OR_RETURN(pair.cert_pem, Read("certificate", cert_file));
  std::vector<X509Ptr> certs = Certificates(pair.cert_pem);
  if (certs.empty()) return Bad("certificate", cert_file, "holds no PEM certificate");
  RETURN_IF_ERROR(CheckValidity(certs.front().get(), cert_file));

  ASSIGN_OR_RETURN(pair.key_pem, Read("private key", key_file));
  BioPtr bio = MemoryBio(pair.key_pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return Bad("private key", key_file, "holds no PEM private key (or an encrypted one)");
  }
  if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "the private key in '", key_file, "' does not match the certificate in '", cert_file, "'"));
  }
  return pair;
}

absl::StatusOr<std::string> CheckCaFile(const std::string& ca_file) {
  ASSIGN_OR_RETURN(std::string pem, Read("CA certificate", ca_file));
  if (Certificates(pem).empty()) return Bad("CA certificate", ca_file, "holds no PEM certificate");
  return pem;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ExecutorServerCredentials(
    const ServerTlsFiles& files) {
  RETURN_IF_ERROR(CheckCertificateAndKey(files.cert_file, files.key_file).status());
  const bool mutual = !files.client_ca_file.empty();
  if (mutual) RETURN_IF_ERROR(CheckCaFile(files.client_ca_file).status());
  if (files.refresh_interval_s == 0) {
    return absl::InvalidArgumentError("the TLS file refresh interval must be at least 1 s");
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key_file, files.cert_file, files.client_ca_file, files.refresh_interval_s);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mutual) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(options);
  if (credentials == nullptr) return absl::InternalError("gRPC refused the TLS server options");
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ExecutorChannelCredentials(
    const ChannelTlsFiles& files) {
  RETURN_IF_ERROR(CheckCaFile(files.ca_file).status());
  RETURN_IF_ERROR(CheckCertificateAndKey(files.cert_file, files.key_file).status());
  if (files.refresh_interval_s == 0) {
    return absl::InvalidArgumentError("the TLS file refresh interval must be at least 1 s");
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key_file, files.cert_file, files.ca_file, files.refresh_interval_s);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  // The chain check alone would let any certificate the CA signed stand for
  // any executor: the name dialled (or GrpcExecutor's tls_server_name) must
  // be in the executor's certificate, as with grpc::SslCredentials.
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  options.set_check_call_host(true);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::experimental::TlsCredentials(options);
  if (credentials == nullptr) return absl::InternalError("gRPC refused the TLS channel options");
  return credentials;
}

}  // namespace stoa::executors
