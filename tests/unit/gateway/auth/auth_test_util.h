// Helpers for the gateway/auth tests: a scratch directory, and JWTs put
// together by hand for the malformed and unsigned cases (signed ones come
// from tests/fakes/gateway/jwt_signer.h).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/gateway/jwt_signer.h"

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
