// SHA-256 as 64 lowercase hex characters (OpenSSL): of a byte string
// (Sha256Hex, thread-safe), or of bytes as they pass (Sha256Stream, one
// owner; large artifacts hashed chunk by chunk).
#pragma once

#include <string>
#include <string_view>

namespace stoa::common {

std::string Sha256Hex(std::string_view bytes);

class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view bytes);
  // 64 lowercase hex characters; the stream is spent.
  std::string FinishHex();

 private:
  void* context_;  // EVP_MD_CTX
};

}  // namespace stoa::common
