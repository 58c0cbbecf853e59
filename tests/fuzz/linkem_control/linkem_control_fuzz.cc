// Fuzz target: stoa-linkem's control API (deploy/testbed/control_server.h
// HandleControlRequest). Input: "METHOD TARGET\n" then the body, turned
// into a common::HttpRequest as the HTTP server would (ParseTarget).
// After each request the shapers schedule a chunk with whatever parameters
// they now hold.
// Oracles: no crash or sanitizer report; a status in 100..599 with a JSON
// body and no exception (strict mode, fuzz_check.h); a refused PUT changes
// nothing; release times never precede the
// time a chunk is read.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "common/http_types.h"
#include "deploy/testbed/control_server.h"
#include "deploy/testbed/link_params.h"
#include "deploy/testbed/link_shaper.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

namespace {

using stoa::fuzz::Require;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t eol = input.find('\n');
  const std::string_view line = input.substr(0, eol);
  const size_t space = line.find(' ');
  if (space == std::string_view::npos) return 0;

  stoa::common::HttpRequest request;
  request.method = std::string(line.substr(0, space));
  request.target = std::string(line.substr(space + 1));
  if (eol != std::string_view::npos) request.body = std::string(input.substr(eol + 1));
  request.headers.emplace("content-type", "application/json");
  if (!stoa::common::ParseTarget(request.target, &request).ok()) return 0;

  stoa::deploy::LinkParams initial;
  initial.delay_ms = 20;
  initial.jitter_ms = 2;
  initial.rate_mbit = 50;
  stoa::deploy::LinkShaper up(initial, 1);
  stoa::deploy::LinkShaper down(initial, 2);
  constexpr int64_t kNowUs = 1'000'000;
  stoa::common::HttpResponse response;
  try {
    response = stoa::deploy::HandleControlRequest(request, kNowUs, up, down);
  } catch (const std::exception& e) {
    // The HTTP server would answer 500; the strict mode reports it.
    Require(!stoa::fuzz::StrictJson(), std::string("HandleControlRequest threw: ") + e.what());
    return 0;
  }
  Require(response.status >= 100 && response.status <= 599,
          "status " + std::to_string(response.status));
  if (stoa::fuzz::StrictJson()) {
    Require(nlohmann::json::accept(response.body), "body is not JSON: " + response.body);
  }
  if (response.status != 200) {
    Require(up.params() == initial && down.params() == initial,
            "a refused request changed the link");
  }
  for (stoa::deploy::LinkShaper* shaper : {&up, &down}) {
    int64_t release = 0;
    for (size_t bytes : {size_t{1}, size_t{1500}, size_t{1} << 20}) {
      const int64_t next = shaper->Schedule(kNowUs, bytes, release);
      Require(next >= kNowUs && next >= release, "a chunk is released before it was read");
      release = next;
    }
  }
  return 0;
}
