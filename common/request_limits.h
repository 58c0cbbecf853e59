// Operator-set limits on what clients send and what functions return
// (docs/limits.md), shared by stoa-gateway and stoa-executor so that a
// limit is enforced, and its refusal worded, the same on REST and gRPC.
//
// RequestLimits holds the values; AddRequestLimitFlags declares their flags
// (and so their YAML keys, common/config.h). The Check*/…Error functions
// build the refusals: each message names the limit in parentheses, e.g.
//   "spec field 'limits.timeout_ms' is 3600000 ms; the limit is 60000 ms
//    (maximum timeout_ms)".
// CheckJsonDepth is the pre-scan every JSON document from a client passes
// before it is parsed: one pass, O(1) extra memory.
//
// Thread safety: pure functions; RequestLimits is a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace stoa::common {

inline constexpr uint64_t kMiB = 1024 * 1024;

struct RequestLimits {
  // Nesting of arrays and objects in a client's JSON document.
  uint32_t max_json_depth = 64;
  // The largest timeout_ms a spec or an Invoke may ask for.
  uint32_t max_timeout_ms = 60'000;
  // Bytes one invocation may return (raw output or tensor bytes), and the
  // JSON text of a KServe response rendered from them.
  uint64_t max_output_bytes = 16 * kMiB;
  // Bytes of a function's artifact (.onnx or .wasm), apart from the body.
  // Artifacts never travel in one gRPC message (LoadFunctionStream), so
  // this limit does not size gRPC messages.
  uint64_t max_artifact_bytes = 2048 * kMiB;
  // Bytes of a registration's upload body (POST/PUT /v1/functions), spooled
  // to disk as it arrives; separate from the HTTP body limit of other routes.
  uint64_t max_upload_bytes = 2048 * kMiB;
  // Bytes of a spec's description (returned with every listing).
  uint32_t max_description_bytes = 4096;
  // Parts of a multipart registration body.
  uint32_t max_multipart_parts = 8;
  // Directories under which a registration may name its artifact with
  // "source": "file:///…" (--artifact-source-dir); empty: never.
  std::vector<std::string> artifact_source_dirs;
};

// --max-timeout-ms, --max-output-mb, --max-artifact-mb and
// --max-description-bytes (both binaries: the executor checks LoadFunction's
// spec as the REST layer does); with `gateway` also --max-json-depth,
// --max-multipart-parts, --max-upload-mb and --artifact-source-dir. The MiB
// flags become bytes in Apply().
struct RequestLimitFlags {
  RequestLimits limits;
  uint32_t max_output_mb = 16;
  uint32_t max_artifact_mb = 2048;
  uint32_t max_upload_mb = 2048;
  RequestLimits Apply() const;
};
void AddRequestLimitFlags(CLI::App& app, RequestLimitFlags& flags, bool gateway);

// INVALID_ARGUMENT when `text` nests arrays/objects deeper than max_depth:
// "<what> nests deeper than N levels at byte B; the limit is N levels (JSON
// depth limit)". Strings are skipped (brackets inside them do not count).
// Malformed JSON otherwise passes: the parser that follows reports it.
absl::Status CheckJsonDepth(std::string_view text, uint32_t max_depth, std::string_view what);

// INVALID_ARGUMENT "<field> is N ms; the limit is M ms (maximum timeout_ms)"
// when timeout_ms > max_timeout_ms.
absl::Status CheckTimeoutMs(uint64_t timeout_ms, uint32_t max_timeout_ms, std::string_view field);

// OUT_OF_RANGE (413) "the artifact is N bytes; the limit is M bytes
// (artifact size limit)" when bytes > max_bytes.
absl::Status CheckArtifactSize(uint64_t bytes, uint64_t max_bytes);

// RESOURCE_EXHAUSTED "function 'f' <what> is N bytes; the limit is M bytes
// (output size limit)"; `what` e.g. "output", "output as JSON". `at_least`:
// N is a lower bound ("more than N bytes"). Over gRPC it stays
// RESOURCE_EXHAUSTED; over HTTP it is 507 (common::ToHttpStatus(status)),
// not 429: retrying the same request cannot help, and the request itself
// was within its limits (so not 413 either).
absl::Status OutputTooLarge(std::string_view function, std::string_view what, uint64_t bytes,
                            uint64_t max_bytes, bool at_least = false);

// The marker OutputTooLarge's message ends with; gRPC carries only code and
// message, so this is how the gateway recognises an executor's refusal.
inline constexpr char kOutputSizeLimit[] = "(output size limit)";

// Whether `status` is OutputTooLarge's (from this process or an executor).
bool IsOutputTooLarge(const absl::Status& status);

// The gRPC message size both ends of the gateway–executor link allow: 64
// MiB, or more when the output limit (plus 1 MiB of framing) needs it, so
// an executor's own refusal is what arrives, never gRPC's "larger than
// max". Artifacts do not count: the gateway streams them in 1 MiB chunks
// (LoadFunctionStream); a unary LoadFunction carries at most this much.
int GrpcMessageBytes(const RequestLimits& limits);

}  // namespace stoa::common
