#include "common/request_limits.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stoa::common {

RequestLimits RequestLimitFlags::Apply() const {
  RequestLimits out = limits;
  out.max_output_bytes = uint64_t{max_output_mb} * kMiB;
  out.max_artifact_bytes = uint64_t{max_artifact_mb} * kMiB;
  out.max_upload_bytes = uint64_t{max_upload_mb} * kMiB;
  return out;
}

void AddRequestLimitFlags(CLI::App& app, RequestLimitFlags& flags, bool gateway) {
  app.add_option("--max-timeout-ms", flags.limits.max_timeout_ms,
                 "largest timeout_ms a spec (limits.timeout_ms) or an Invoke may ask for")
      ->check(CLI::Range(1u, 86'400'000u))
      ->capture_default_str();
  app.add_option("--max-output-mb", flags.max_output_mb,
                 "largest output of one invocation, MiB (raw bytes, tensor bytes, and the JSON "
                 "text of a KServe response); a function over it fails with 500 / INTERNAL")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_option("--max-artifact-mb", flags.max_artifact_mb,
                 "largest function artifact (.onnx, .wasm), MiB, apart from the request body limit")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  app.add_option("--max-description-bytes", flags.limits.max_description_bytes,
                 "longest spec description, bytes (it is returned with every listing)")
      ->check(CLI::Range(0u, 1'048'576u))
      ->capture_default_str();
  if (!gateway) return;
  app.add_option("--max-json-depth", flags.limits.max_json_depth,
                 "deepest nesting of arrays and objects in a JSON document from a client")
      ->check(CLI::Range(2u, 10'000u))
      ->capture_default_str();
  app.add_option("--max-multipart-parts", flags.limits.max_multipart_parts,
                 "most parts of a multipart registration body")
      ->check(CLI::Range(2u, 1000u))
      ->capture_default_str();
  app.add_option("--max-upload-mb", flags.max_upload_mb,
                 "largest registration upload (POST/PUT /v1/functions), MiB; spooled to "
                 "<data-dir>/uploads as it arrives, apart from --body-limit-mb")
      ->check(CLI::Range(1u, 65536u))
      ->capture_default_str();
  app.add_option("--artifact-source-dir", flags.limits.artifact_source_dirs,
                 "a directory under which registrations may name their artifact with "
                 "\"source\": \"file:///…\" (repeatable; default: none, source refused)");
}

int GrpcMessageBytes(const RequestLimits& limits) {
  const uint64_t needed = limits.max_output_bytes + kMiB;
  return static_cast<int>(std::min<uint64_t>(std::max<uint64_t>(needed, 64 * kMiB), INT32_MAX));
}

absl::Status CheckJsonDepth(std::string_view text, uint32_t max_depth, std::string_view what) {
  uint32_t depth = 0;
  bool in_string = false;
  const char* p = text.data();
  const char* const end = p + text.size();
  for (; p != end; ++p) {
    const char c = *p;
    if (in_string) {
      if (c == '\\') {
        if (++p == end) break;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return absl::InvalidArgumentError(absl::StrCat(
            std::string(what), " nests deeper than ", max_depth, " levels at byte ",
            p - text.data(), "; the limit is ", max_depth, " levels (JSON depth limit)"));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTimeoutMs(uint64_t timeout_ms, uint32_t max_timeout_ms, std::string_view field) {
  if (timeout_ms <= max_timeout_ms) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(std::string(field), " is ", timeout_ms,
                                                 " ms; the limit is ", max_timeout_ms,
                                                 " ms (maximum timeout_ms)"));
}

absl::Status CheckArtifactSize(uint64_t bytes, uint64_t max_bytes) {
  if (bytes <= max_bytes) return absl::OkStatus();
  return absl::OutOfRangeError(absl::StrCat("the artifact is ", bytes, " bytes; the limit is ",
                                            max_bytes, " bytes (artifact size limit)"));
}

absl::Status OutputTooLarge(std::string_view function, std::string_view what, uint64_t bytes,
                            uint64_t max_bytes, bool at_least) {
  return absl::ResourceExhaustedError(
      absl::StrCat("function '", std::string(function), "' ", std::string(what), " is ",
                   at_least ? "more than " : "", bytes, " bytes; the limit is ", max_bytes,
                   " bytes ", kOutputSizeLimit));
}

bool IsOutputTooLarge(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         absl::EndsWith(status.message(), kOutputSizeLimit);
}

}  // namespace stoa::common
