#include "gateway/registration_body.h"

#include <filesystem>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/upload_spool.h"
#include "gateway/artifact_source.h"
#include "gateway/multipart.h"
#include "gateway/multipart_file.h"
#include "gateway/pipeline_spec.h"
#include "gateway/spec_json.h"

namespace stoa::gateway {
namespace {

// The media type of a Content-Type value, lower-case, without parameters.
std::string MediaType(const std::string& content_type) {
  std::string media = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(media));
}

absl::Status CheckSize(uint64_t size, const common::RequestLimits& limits) {
  if (size == 0) return absl::InvalidArgumentError("the artifact is empty");
  return common::CheckArtifactSize(size, limits.max_artifact_bytes);
}

absl::Status EitherBytesOrSource(bool bytes, bool source, std::string_view bytes_name) {
  if (bytes && source) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the registration has both ", std::string(bytes_name), " and 'source': give one of them"));
  }
  if (!bytes && !source) {
    return absl::InvalidArgumentError(absl::StrCat("the registration has no artifact: send ",
                                                   std::string(bytes_name),
                                                   " or name a file with 'source'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<common::StagedArtifact> FromSource(const std::string& uri,
                                                  const common::RequestLimits& limits,
                                                  const std::string& upload_dir) {
  ASSIGN_OR_RETURN(std::string path, ResolveFileSource(uri, limits.artifact_source_dirs));
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("'source' ", path, ": ", ec.message()));
  RETURN_IF_ERROR(CheckSize(size, limits));
  return common::StageFileRange(path, 0, size, upload_dir);
}

// A pipeline has no artifact of its own: its stage list is staged as one
// (gateway/pipeline_spec.h), so that it is stored and versioned like any.
absl::StatusOr<Registration> PipelineRegistration(Registration reg, bool artifact,
                                                  const std::string& upload_dir) {
  if (artifact) {
    return absl::InvalidArgumentError(
        "a pipeline has no artifact: its stages are registered functions (leave out the "
        "artifact and 'source')");
  }
  ASSIGN_OR_RETURN(reg.artifact, common::StageBytes(PipelineArtifact(reg.spec), upload_dir));
  return reg;
}

// Multipart from the spooled upload file.
absl::StatusOr<Registration> FromMultipartFile(const std::string& content_type,
                                               const common::SpooledBody& upload,
                                               const common::RequestLimits& limits,
                                               const std::string& upload_dir) {
  ASSIGN_OR_RETURN(
      std::vector<FilePart> parts,
      ParseMultipartFile(content_type, upload.path(), upload.size(), limits.max_multipart_parts));
  const FilePart* spec = FindFilePart(parts, "spec");
  const FilePart* artifact = FindFilePart(parts, "artifact");
  if (spec == nullptr) return absl::InvalidArgumentError("multipart body has no 'spec' part");
  if (spec->length > kMaxSpecPartBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the 'spec' part is ", spec->length,
                                                   " bytes; it may be at most ", kMaxSpecPartBytes,
                                                   " bytes"));
  }
  ASSIGN_OR_RETURN(std::string text,
                   common::ReadFileRange(upload.path(), spec->offset, spec->length));
  std::optional<std::string> source;
  Registration reg;
  ASSIGN_OR_RETURN(reg.spec, ParseFunctionSpec(text, nullptr, limits, &source));
  if (IsPipeline(reg.spec)) {
    return PipelineRegistration(std::move(reg), artifact != nullptr || source.has_value(),
                                upload_dir);
  }
  if (artifact == nullptr && !source) {
    return absl::InvalidArgumentError(
        "multipart body has no 'artifact' part (and the spec names no 'source')");
  }
  RETURN_IF_ERROR(
      EitherBytesOrSource(artifact != nullptr, source.has_value(), "an 'artifact' part"));
  if (source) {
    ASSIGN_OR_RETURN(reg.artifact, FromSource(*source, limits, upload_dir));
    return reg;
  }
  RETURN_IF_ERROR(CheckSize(artifact->length, limits));
  ASSIGN_OR_RETURN(reg.artifact, common::StageFileRange(upload.path(), artifact->offset,
                                                        artifact->length, upload_dir));
  return reg;
}

// Multipart from a body in memory.
absl::StatusOr<Registration> FromMultipartBody(const std::string& content_type,
                                               std::string_view body,
                                               const common::RequestLimits& limits,
                                               const std::string& upload_dir) {
  ASSIGN_OR_RETURN(std::vector<MultipartPart> parts,
                   ParseMultipart(content_type, body, limits.max_multipart_parts));
  const MultipartPart* spec = FindPart(parts, "spec");
  const MultipartPart* artifact = FindPart(parts, "artifact");
  if (spec == nullptr) return absl::InvalidArgumentError("multipart body has no 'spec' part");
  std::optional<std::string> source;
  Registration reg;
  ASSIGN_OR_RETURN(reg.spec, ParseFunctionSpec(spec->body, nullptr, limits, &source));
  if (IsPipeline(reg.spec)) {
    return PipelineRegistration(std::move(reg), artifact != nullptr || source.has_value(),
                                upload_dir);
  }
  if (artifact == nullptr && !source) {
    return absl::InvalidArgumentError(
        "multipart body has no 'artifact' part (and the spec names no 'source')");
  }
  RETURN_IF_ERROR(
      EitherBytesOrSource(artifact != nullptr, source.has_value(), "an 'artifact' part"));
  if (source) {
    ASSIGN_OR_RETURN(reg.artifact, FromSource(*source, limits, upload_dir));
    return reg;
  }
  RETURN_IF_ERROR(CheckSize(artifact->body.size(), limits));
  ASSIGN_OR_RETURN(reg.artifact, common::StageBytes(artifact->body, upload_dir));
  return reg;
}

absl::StatusOr<Registration> FromJson(const common::HttpRequest& request,
                                      const common::RequestLimits& limits,
                                      const std::string& upload_dir) {
  std::string spooled;
  if (request.upload != nullptr) {
    if (request.upload->size() > kMaxJsonRegistrationBytes) {
      return absl::OutOfRangeError(absl::StrCat(
          "a JSON registration is ", request.upload->size(), " bytes; the limit is ",
          kMaxJsonRegistrationBytes,
          " bytes (JSON registration limit): send a larger artifact as multipart/form-data or "
          "name it with 'source'"));
    }
    ASSIGN_OR_RETURN(spooled,
                     common::ReadFileRange(request.upload->path(), 0, request.upload->size()));
  }
  const std::string& text = request.upload != nullptr ? spooled : request.body;
  std::optional<std::string> base64;
  std::optional<std::string> source;
  Registration reg;
  ASSIGN_OR_RETURN(reg.spec, ParseFunctionSpec(text, &base64, limits, &source));
  if (IsPipeline(reg.spec)) {
    return PipelineRegistration(std::move(reg), base64.has_value() || source.has_value(),
                                upload_dir);
  }
  RETURN_IF_ERROR(EitherBytesOrSource(base64.has_value(), source.has_value(),
                                      "'artifact_base64' (the artifact, base64-encoded)"));
  if (source) {
    ASSIGN_OR_RETURN(reg.artifact, FromSource(*source, limits, upload_dir));
    return reg;
  }
  std::string bytes;
  if (!absl::Base64Unescape(*base64, &bytes)) {
    return absl::InvalidArgumentError("'artifact_base64' is not valid base64");
  }
  RETURN_IF_ERROR(CheckSize(bytes.size(), limits));
  ASSIGN_OR_RETURN(reg.artifact, common::StageBytes(bytes, upload_dir));
  return reg;
}

}  // namespace

absl::StatusOr<Registration> ParseRegistration(const common::HttpRequest& request,
                                               const common::RequestLimits& limits,
                                               const std::string& upload_dir) {
  const std::string content_type = request.Header("content-type");
  const std::string media = MediaType(content_type);
  if (media == "multipart/form-data") {
    if (request.upload != nullptr) {
      return FromMultipartFile(content_type, *request.upload, limits, upload_dir);
    }
    return FromMultipartBody(content_type, request.body, limits, upload_dir);
  }
  if (media == "application/json") return FromJson(request, limits, upload_dir);
  return absl::FailedPreconditionError(absl::StrCat(
      "Content-Type '", content_type,
      "' is not supported: use multipart/form-data with parts 'spec' and 'artifact', or "
      "application/json with 'artifact_base64' (or 'source' in either)"));
}

uint64_t RegistrationUploadLimit(std::string_view method, std::string_view path, uint64_t limit) {
  constexpr std::string_view kPrefix = "/v1/functions";
  if (!path.starts_with(kPrefix)) return 0;
  std::string_view rest = path.substr(kPrefix.size());
  if (method == "POST") return rest.empty() || rest == "/" ? limit : 0;
  if (method != "PUT" || !rest.starts_with('/')) return 0;
  rest.remove_prefix(1);
  return !rest.empty() && rest.find('/') == std::string_view::npos ? limit : 0;
}

}  // namespace stoa::gateway
