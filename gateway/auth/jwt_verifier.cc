#include "gateway/auth/jwt_verifier.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace stoa::gateway::auth {
namespace {

using nlohmann::json;

absl::Status Unauthenticated(std::string_view message) {
  return absl::UnauthenticatedError(std::string(message));
}

std::string Rfc3339(int64_t unix_s) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_s), absl::UTCTimeZone());
}

// A claim or header value fit for an error message: escaped and short.
std::string Shown(std::string_view value) {
  return absl::StrCat("\"", absl::CHexEscape(std::string(value.substr(0, 64))),
                      value.size() > 64 ? "...\"" : "\"");
}

bool IsBase64UrlChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

// A base64url segment decoded as a JSON object; nullopt if it is not one.
std::optional<json> DecodeSegment(std::string_view segment) {
  std::string bytes;
  if (!absl::WebSafeBase64Unescape(std::string(segment), &bytes)) return std::nullopt;
  json value = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) return std::nullopt;
  return value;
}

absl::StatusOr<std::string> ReadSecret(const std::string& path) {
  ASSIGN_OR_RETURN(std::string secret, common::ReadFile(path));
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.size() < 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the HS256 secret in ", path, " is ", secret.size(), " bytes; at least 32 are needed"));
  }
  return secret;
}

struct RsaPublicKey {
  std::string pem;
  EVP_PKEY* key = nullptr;  // owned by the caller once returned
};

absl::StatusOr<RsaPublicKey> ReadRsaPublicKey(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, common::ReadFile(path));
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a PEM public key (-----BEGIN PUBLIC KEY-----) for RS256 JWTs"));
  }
  const bool rsa = EVP_PKEY_base_id(key) == EVP_PKEY_RSA;
  const int bits = EVP_PKEY_bits(key);
  if (!rsa || bits < 2048) {
    EVP_PKEY_free(key);
    if (!rsa) return absl::InvalidArgumentError(absl::StrCat(path, " is not an RSA public key"));
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is a ", bits, "-bit RSA key; at least 2048 bits are needed"));
  }
  return RsaPublicKey{std::move(pem), key};
}

// The signature over "header.payload", checked with OpenSSL on the key
// parsed once (libjwt 1.10 parses the PEM on every call: ~1 ms with OpenSSL
// 3), so forged tokens are refused cheaply.
bool SignatureMatches(jwt_alg_t alg, const std::string& secret, EVP_PKEY* key,
                      std::string_view signing_input, std::string_view signature_b64) {
  std::string signature;
  if (!absl::WebSafeBase64Unescape(std::string(signature_b64), &signature)) return false;
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (alg == JWT_ALG_HS256) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), data,
             signing_input.size(), mac, &mac_len) == nullptr) {
      return false;
    }
    return signature.size() == mac_len && CRYPTO_memcmp(mac, signature.data(), mac_len) == 0;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr &&
                  EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                                   signature.size(), data, signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

absl::Status CheckAudience(const json& claims, const std::string& audience) {
  auto it = claims.find("aud");
  if (it == claims.end())
    return Unauthenticated("the JWT has no aud claim (an audience is configured)");
  if (it->is_string() && it->get<std::string>() == audience) return absl::OkStatus();
  if (it->is_array()) {
    for (const auto& a : *it) {
      if (a.is_string() && a.get<std::string>() == audience) return absl::OkStatus();
    }
  }
  return Unauthenticated(
      absl::StrCat("the JWT's aud does not include the configured audience ", Shown(audience)));
}

// A NumericDate as whole seconds, clamped to +-1e12 (about 31000 years) so
// that huge values neither overflow the conversion nor the leeway sums.
int64_t SecondsClaim(double seconds) {
  return static_cast<int64_t>(std::clamp(seconds, -1e12, 1e12));
}

absl::Status CheckTimes(const json& claims, int64_t now, int leeway, int64_t* exp) {
  auto e = claims.find("exp");
  if (e == claims.end()) return Unauthenticated("the JWT has no exp claim (exp is required)");
  if (!e->is_number()) return Unauthenticated("the JWT's exp is not a number");
  *exp = SecondsClaim(std::floor(e->get<double>()));
  if (*exp + leeway <= now) {
    return Unauthenticated(absl::StrCat("the JWT expired at ", Rfc3339(*exp)));
  }
  auto n = claims.find("nbf");
  if (n != claims.end()) {
    if (!n->is_number()) return Unauthenticated("the JWT's nbf is not a number");
    const int64_t nbf = SecondsClaim(std::ceil(n->get<double>()));
    if (now + leeway < nbf) {
      return Unauthenticated(absl::StrCat("the JWT is not valid before ", Rfc3339(nbf)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StringClaim(const json& claims, const char* name, bool required) {
  auto it = claims.find(name);
  if (it == claims.end()) {
    if (required) return Unauthenticated(absl::StrCat("the JWT has no ", name, " claim"));
    return std::string();
  }
  if (!it->is_string() || it->get<std::string>().empty()) {
    return Unauthenticated(absl::StrCat("the JWT's ", name, " claim is not a non-empty string"));
  }
  return it->get<std::string>();
}

absl::Status ReadIdentityClaims(const json& claims, Identity* id) {
  ASSIGN_OR_RETURN(id->name, StringClaim(claims, "sub", true));
  for (unsigned char c : id->name) {
    if (id->name.size() > 256 || c < 0x20 || c == 0x7f) {
      return Unauthenticated("the JWT's sub must be at most 256 printable bytes");
    }
  }
  ASSIGN_OR_RETURN(std::string role, StringClaim(claims, "role", true));
  auto parsed = ParseRole(role);
  if (!parsed) {
    return Unauthenticated(absl::StrCat("the JWT's role ", Shown(role),
                                        " is not admin, developer, operator or invoker"));
  }
  id->role = *parsed;
  ASSIGN_OR_RETURN(id->tenant, StringClaim(claims, "tenant", false));
  if (!id->tenant.empty()) {
    if (auto st = ValidateTenantName(id->tenant); !st.ok()) {
      return Unauthenticated(absl::StrCat("the JWT's ", std::string(st.message())));
    }
  }
  auto fns = claims.find("functions");
  if (fns == claims.end()) return absl::OkStatus();
  if (id->role != Role::kInvoker) {
    return Unauthenticated("the JWT's functions claim applies only to role invoker");
  }
  if (!fns->is_array()) return Unauthenticated("the JWT's functions claim is not an array");
  for (const auto& f : *fns) {
    if (!f.is_string() || f.get<std::string>().empty() || f.get<std::string>().size() > 256) {
      return Unauthenticated("the JWT's functions claim must hold non-empty strings");
    }
    id->functions.push_back(f.get<std::string>());
  }
  return absl::OkStatus();
}

struct JwtDeleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};

}  // namespace

void JwtVerifier::PkeyFree::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

JwtVerifier::~JwtVerifier() = default;

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(const Options& options) {
  if (options.hs256_secret_file.empty() && options.rs256_public_key_file.empty()) {
    return absl::FailedPreconditionError("JWTs need an HS256 secret file or an RS256 public key");
  }
  std::unique_ptr<JwtVerifier> verifier(new JwtVerifier(options));
  if (!options.hs256_secret_file.empty()) {
    ASSIGN_OR_RETURN(verifier->hs256_secret_, ReadSecret(options.hs256_secret_file));
  }
  if (!options.rs256_public_key_file.empty()) {
    ASSIGN_OR_RETURN(RsaPublicKey rsa, ReadRsaPublicKey(options.rs256_public_key_file));
    verifier->rs256_pem_ = std::move(rsa.pem);
    verifier->rs256_key_.reset(rsa.key);
  }
  return verifier;
}

bool JwtVerifier::LooksLikeJwt(std::string_view token) {
  std::vector<std::string> parts = absl::StrSplit(std::string(token), '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) return false;
  for (auto part : parts) {
    for (char c : part) {
      if (!IsBase64UrlChar(c)) return false;
    }
  }
  return true;
}

std::string JwtVerifier::configured_algorithms() const {
  if (!hs256_secret_.empty() && !rs256_pem_.empty()) return "HS256, RS256";
  return hs256_secret_.empty() ? "RS256" : "HS256";
}

absl::StatusOr<Identity> JwtVerifier::Verify(std::string_view token, int64_t now_unix_s,
                                             std::string_view sha256_hex) const {
  std::string key;
  if (options_.cache_entries > 0) {
    key = sha256_hex.empty() ? common::Sha256Hex(token) : std::string(sha256_hex);
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (it->second.exp + options_.leeway_s > now_unix_s) return it->second.identity;
      cache_.erase(it);  // expired: the full check below says so
    }
  }
  int64_t exp = 0;
  auto identity = VerifyUncached(token, now_unix_s, &exp);
  if (identity.ok() && options_.cache_entries > 0) {
    Remember(std::move(key), *identity, exp, now_unix_s);
  }
  return identity;
}

void JwtVerifier::Remember(std::string key, const Identity& identity, int64_t exp,
                           int64_t now) const {
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= options_.cache_entries) {
    for (auto it = cache_.begin(); it != cache_.end();) {
      if (it->second.exp + options_.leeway_s <= now) {
        cache_.erase(it++);
      } else {
        ++it;
      }
    }
    if (cache_.size() >= options_.cache_entries) cache_.clear();
  }
  cache_[std::move(key)] = Cached{identity, exp};
}

absl::StatusOr<Identity> JwtVerifier::VerifyUncached(std::string_view token, int64_t now_unix_s,
                                                     int64_t* exp) const {
  if (!LooksLikeJwt(token)) return Unauthenticated("the bearer value is not a JWT");
  std::vector<std::string> parts = absl::StrSplit(std::string(token), '.');
  auto header = DecodeSegment(parts[0]);
  if (!header) return Unauthenticated("the JWT header is not base64url-encoded JSON");
  auto alg_it = header->find("alg");
  if (alg_it == header->end() || !alg_it->is_string()) {
    return Unauthenticated("the JWT header has no alg");
  }
  const std::string alg = alg_it->get<std::string>();
  if (absl::AsciiStrToLower(alg) == "none") {
    return Unauthenticated("alg none is never accepted: the JWT must be signed");
  }
  const std::string* key = nullptr;
  jwt_alg_t expected = JWT_ALG_INVAL;
  if (alg == "HS256" && !hs256_secret_.empty()) {
    key = &hs256_secret_;
    expected = JWT_ALG_HS256;
  } else if (alg == "RS256" && !rs256_pem_.empty()) {
    key = &rs256_pem_;
    expected = JWT_ALG_RS256;
  } else {
    return Unauthenticated(absl::StrCat(
        "alg ", Shown(alg), " is not accepted (configured: ", configured_algorithms(), ")"));
  }
  if (parts[2].empty()) return Unauthenticated("the JWT has no signature");
  if (!DecodeSegment(parts[1])) return Unauthenticated("the JWT payload is not a JSON object");
  const std::string_view signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (!SignatureMatches(expected, hs256_secret_, rs256_key_.get(), signing_input, parts[2])) {
    return Unauthenticated("the JWT signature does not verify");
  }
  // Claims before libjwt: an expired or misdirected token costs no more.
  ASSIGN_OR_RETURN(Identity identity, CheckClaims(parts[1], now_unix_s, exp));
  jwt_t* raw = nullptr;
  const std::string text(token);
  const int rc = jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key->data()),
                            static_cast<int>(key->size()));
  std::unique_ptr<jwt_t, JwtDeleter> decoded(raw);
  if (rc != 0 || decoded == nullptr) return Unauthenticated("the JWT signature does not verify");
  if (jwt_get_alg(decoded.get()) != expected) {
    return Unauthenticated("the JWT's algorithm is not the one its header names");
  }
  return identity;
}

absl::StatusOr<Identity> JwtVerifier::CheckClaims(std::string_view payload_b64, int64_t now_unix_s,
                                                  int64_t* exp) const {
  auto claims = DecodeSegment(payload_b64);
  if (!claims) return Unauthenticated("the JWT payload is not a JSON object");
  RETURN_IF_ERROR(CheckTimes(*claims, now_unix_s, options_.leeway_s, exp));
  if (!options_.issuer.empty()) {
    auto iss = claims->find("iss");
    if (iss == claims->end() || !iss->is_string() || iss->get<std::string>() != options_.issuer) {
      return Unauthenticated(
          absl::StrCat("the JWT's iss is not the configured issuer ", Shown(options_.issuer)));
    }
  }
  if (!options_.audience.empty()) RETURN_IF_ERROR(CheckAudience(*claims, options_.audience));
  Identity identity;
  identity.source = "jwt";
  RETURN_IF_ERROR(ReadIdentityClaims(*claims, &identity));
  return identity;
}

}  // namespace stoa::gateway::auth
