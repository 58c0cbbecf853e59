// Signing side of JWTs for tests and benchmarks: RSA key pairs made with
// OpenSSL and tokens signed with libjwt (the library the gateway verifies
// with). Not for production: keys live in memory as PEM strings.
#pragma once

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <string>

#include "nlohmann/json.hpp"

namespace stoa::gateway::auth::testing {

struct RsaKeyPair {
  std::string private_pem;
  std::string public_pem;
};

inline RsaKeyPair MakeRsaKeyPair(int bits = 2048) {
  RsaKeyPair pair;
  EVP_PKEY* key = EVP_RSA_gen(bits);
  if (key == nullptr) return pair;
  auto to_string = [](BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<size_t>(n));
    BIO_free(bio);
    return s;
  };
  BIO* priv = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);
  pair.private_pem = to_string(priv);
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(pub, key);
  pair.public_pem = to_string(pub);
  EVP_PKEY_free(key);
  return pair;
}

// Signs `claims` with libjwt. `alg` JWT_ALG_HS256 (key = the secret) or
// JWT_ALG_RS256 (key = the private key PEM). "" on failure.
inline std::string SignJwt(const nlohmann::json& claims, jwt_alg_t alg, const std::string& key) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) return "";
  std::string out;
  if (jwt_add_grants_json(jwt, claims.dump().c_str()) == 0 &&
      jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) == 0) {
    char* encoded = jwt_encode_str(jwt);
    if (encoded != nullptr) {
      out = encoded;
      free(encoded);
    }
  }
  jwt_free(jwt);
  return out;
}

}  // namespace stoa::gateway::auth::testing
