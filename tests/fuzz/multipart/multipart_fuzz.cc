// Fuzz target: gateway/multipart.h. The input's first line (up to '\n') is
// the Content-Type header value, the rest the body, as RestApi passes them.
// Oracles: no crash or sanitizer report; every part parsed is a piece of
// the body (its bytes are found there) and FindPart agrees with the list.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/multipart.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t eol = input.find('\n');
  const std::string_view content_type = input.substr(0, eol);
  const std::string_view body =
      eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);

  (void)stoa::gateway::MultipartBoundary(content_type);
  auto parts = stoa::gateway::ParseMultipart(content_type, body);
  if (!parts.ok()) return 0;
  for (const auto& part : *parts) {
    stoa::fuzz::Require(part.body.size() <= body.size(), "part larger than the body");
    stoa::fuzz::Require(body.find(part.body) != std::string_view::npos,
                        "part body not taken from the body");
    const stoa::gateway::MultipartPart* found = stoa::gateway::FindPart(*parts, part.name);
    stoa::fuzz::Require(found != nullptr && found->name == part.name, "FindPart missed a part");
  }
  return 0;
}
