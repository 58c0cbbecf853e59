// Helpers for the gateway/auth tests: a scratch directory, RSA keys made
// with OpenSSL, and JWTs signed with libjwt (the same library the gateway
// verifies with, used here on the signing side) or put together by hand for
// the malformed and unsigned cases.
#pragma once

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"

namespace stoa::gateway::auth::testing {

// A fresh directory per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("stoa_auth_test_") + std::to_string(::getpid()) + "_" +
             (info ? info->test_suite_name() : "suite") + "_" + (info ? info->name() : "x"));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& contents) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << contents;
    std::filesystem::permissions(
        file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return file.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

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

inline std::string B64Url(const std::string& bytes) {
  std::string out;
  absl::WebSafeBase64Escape(bytes, &out);
  return out;
}

// header.payload.signature put together by hand (no signing).
inline std::string RawJwt(const nlohmann::json& header, const nlohmann::json& claims,
                          const std::string& signature) {
  return B64Url(header.dump()) + "." + B64Url(claims.dump()) + "." + signature;
}

}  // namespace stoa::gateway::auth::testing
