#include "common/tls_pem.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace stoa::common {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The file's bytes; the error names the flag, the path and errno.
absl::StatusOr<std::string> ReadWhole(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": no file given"));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string why =
        absl::StrCat(flag, " ", path, ": cannot open (", std::strerror(err), ")");
    return err == EACCES ? absl::PermissionDeniedError(why) : absl::NotFoundError(why);
  }
  std::string out;
  char buf[8192];
  constexpr size_t kMaxPemBytes = 1 << 20;  // no certificate file is bigger
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", path, ": cannot read (", std::strerror(err), ")"));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxPemBytes) {
      ::close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", path, ": larger than ", kMaxPemBytes, " bytes (PEM expected)"));
    }
  }
  ::close(fd);
  return out;
}

// Never prompts for a passphrase (the default callback reads the terminal).
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

std::string AsnTime(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "?";
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string CommonName(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (i < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::string GeneralName(const GENERAL_NAME* name) {
  int type = 0;
  const ASN1_STRING* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
  if (value == nullptr) return "";
  const auto* bytes = ASN1_STRING_get0_data(value);
  const int len = ASN1_STRING_length(value);
  if (type == GEN_DNS || type == GEN_URI || type == GEN_EMAIL) {
    return std::string(reinterpret_cast<const char*>(bytes), static_cast<size_t>(len));
  }
  if (type == GEN_IPADD && (len == 4 || len == 16)) {
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(len == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text) != nullptr) return text;
  }
  return "";
}

}  // namespace

std::string TakeOpenSslError(const std::string& fallback) {
  unsigned long last = 0;
  for (unsigned long e; (e = ERR_get_error()) != 0;) last = e;
  if (last == 0) return fallback;
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : fallback;
}

absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(const std::string& flag,
                                                      const std::string& path) {
  absl::StatusOr<std::string> pem = ReadWhole(flag, path);
  if (!pem.ok()) return pem.status();
  std::vector<X509Ptr> out;
  // Only the BEGIN CERTIFICATE blocks count; keys or other blocks in the
  // same file are skipped by PEM_read_bio_X509's search.
  size_t at = 0;
  while ((at = pem->find("-----BEGIN CERTIFICATE-----", at)) != std::string::npos) {
    BioPtr bio(BIO_new_mem_buf(pem->data() + at, static_cast<int>(pem->size() - at)));
    ERR_clear_error();
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (!cert) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": certificate ",
                                                     out.size() + 1, " does not parse (",
                                                     TakeOpenSslError(), ")"));
    }
    out.push_back(std::move(cert));
    at += 1;
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": no certificate found (PEM expected)"));
  }
  return out;
}

absl::StatusOr<EvpPkeyPtr> ReadPrivateKey(const std::string& flag, const std::string& path) {
  absl::StatusOr<std::string> pem = ReadWhole(flag, path);
  if (!pem.ok()) return pem.status();
  if (pem->find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
      pem->find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": the key is encrypted (an unencrypted PEM key expected)"));
  }
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  ERR_clear_error();
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();  // the reason could only say "no start line"
  if (!key) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": no private key found (PEM expected)"));
  }
  return key;
}

absl::Status CheckValidNow(const std::string& flag, const std::string& path, X509* cert) {
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path,
                                                   ": the certificate is not valid before ",
                                                   AsnTime(X509_get0_notBefore(cert))));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": the certificate expired on ",
                                                   AsnTime(X509_get0_notAfter(cert))));
  }
  return absl::OkStatus();
}

std::string DescribeCertificate(X509* cert) {
  char subject[512] = {};
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  return absl::StrCat(subject, ", valid until ", AsnTime(X509_get0_notAfter(cert)));
}

std::vector<std::string> VerifiedPeerNames(SSL* ssl) {
  std::vector<std::string> names;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return names;
  if (std::string cn = CommonName(cert); !cn.empty()) names.push_back(std::move(cn));
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    if (std::string name = GeneralName(sk_GENERAL_NAME_value(sans, i)); !name.empty()) {
      names.push_back(std::move(name));
    }
  }
  GENERAL_NAMES_free(sans);
  return names;
}

}  // namespace stoa::common
