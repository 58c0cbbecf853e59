#include "gateway/kserve_response.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/half.h"
#include "common/json_text.h"
#include "common/request_limits.h"
#include "common/status_macros.h"
#include "gateway/kserve_codec.h"

namespace stoa::gateway {
namespace {

template <typename T>
T LoadLe(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
void AppendNumber(std::string& out, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) {
      out.append("null");
      return;
    }
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

// Checked every kCheckEvery elements: the text may pass the limit by at most
// that many elements' worth before rendering stops.
constexpr uint64_t kCheckEvery = 4096;

// The element count of an output whose bytes match its shape and datatype.
absl::StatusOr<uint64_t> CheckOutput(const v1::Tensor& t) {
  size_t size = ElementSize(t.datatype());
  if (size == 0) {
    return absl::InternalError(absl::StrCat("output '", t.name(), "' has unsupported datatype ",
                                            v1::DataType_Name(t.datatype())));
  }
  absl::StatusOr<uint64_t> bytes =
      TensorBytes(t.shape(), t.datatype(), absl::StrCat("output '", t.name(), "'"));
  if (!bytes.ok()) return absl::InternalError(bytes.status().message());
  const uint64_t n = *bytes / size;
  if (t.raw().size() != n * size) {
    return absl::InternalError(absl::StrCat("output '", t.name(), "' has ", t.raw().size(),
                                            " bytes, shape ", ShapeString(t.shape()), " needs ",
                                            n * size));
  }
  return n;
}

void AppendHeader(std::string& out, const v1::Tensor& t) {
  out.append("{\"name\":");
  common::AppendJsonString(out, t.name());
  out.append(",\"shape\":").append(ShapeString(t.shape()));
  out.append(",\"datatype\":\"").append(DataTypeName(t.datatype())).append("\"");
}

absl::Status AppendTensor(std::string& out, const v1::Tensor& t, std::string_view model_name,
                          uint64_t max_bytes) {
  ASSIGN_OR_RETURN(const uint64_t n, CheckOutput(t));
  const size_t size = ElementSize(t.datatype());
  AppendHeader(out, t);
  out.append(",\"data\":[");
  uint64_t reserve = n * 12 + 2;
  if (max_bytes != 0) reserve = std::min<uint64_t>(reserve, max_bytes);
  out.reserve(out.size() + reserve);
  const char* p = t.raw().data();
  for (uint64_t i = 0; i < n; ++i, p += size) {
    if (max_bytes != 0 && i % kCheckEvery == 0 && out.size() > max_bytes) {
      return common::OutputTooLarge(model_name, "output as JSON", max_bytes, max_bytes, true);
    }
    if (i) out.push_back(',');
    switch (t.datatype()) {
      case v1::FP16:
        AppendNumber(out, common::HalfToFloat(LoadLe<uint16_t>(p)));
        break;
      case v1::FP32:
        AppendNumber(out, LoadLe<float>(p));
        break;
      case v1::FP64:
        AppendNumber(out, LoadLe<double>(p));
        break;
      case v1::INT32:
        AppendNumber(out, LoadLe<int32_t>(p));
        break;
      case v1::INT64:
        AppendNumber(out, LoadLe<int64_t>(p));
        break;
      case v1::INT8:
        AppendNumber(out, static_cast<int>(LoadLe<int8_t>(p)));
        break;
      case v1::UINT8:
        AppendNumber(out, static_cast<int>(LoadLe<uint8_t>(p)));
        break;
      case v1::BOOL:
        out.append(*p ? "true" : "false");
        break;
      default:
        break;
    }
  }
  out.append("]}");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RenderedResponse> RenderInferResponse(
    std::string_view model_name, uint64_t model_version, const InferRequest& request,
    const google::protobuf::RepeatedPtrField<v1::Tensor>& outputs, uint64_t max_bytes) {
  RenderedResponse r;
  std::string& out = r.body;
  out.reserve(256);
  out.append("{\"model_name\":");
  common::AppendJsonString(out, model_name);
  out.append(",\"model_version\":\"").append(std::to_string(model_version)).append("\"");
  if (!request.id.empty()) {
    out.append(",\"id\":");
    common::AppendJsonString(out, request.id);
  }
  out.append(",\"outputs\":[");
  bool first = true;
  std::vector<const v1::Tensor*> binary;
  uint64_t binary_bytes = 0;
  const std::vector<std::string>& requested = request.requested_outputs;
  for (const v1::Tensor& t : outputs) {
    if (!requested.empty() &&
        std::find(requested.begin(), requested.end(), t.name()) == requested.end()) {
      continue;
    }
    if (!first) out.push_back(',');
    first = false;
    if (!request.WantsBinary(t.name())) {
      RETURN_IF_ERROR(AppendTensor(out, t, model_name, max_bytes));
      continue;
    }
    RETURN_IF_ERROR(CheckOutput(t).status());
    AppendHeader(out, t);
    absl::StrAppend(&out, ",\"parameters\":{\"binary_data_size\":", t.raw().size(), "}}");
    binary.push_back(&t);
    binary_bytes += t.raw().size();
  }
  out.append("]}");
  if (max_bytes != 0 && out.size() + binary_bytes > max_bytes) {
    return common::OutputTooLarge(model_name, binary.empty() ? "output as JSON" : "response",
                                  out.size() + binary_bytes, max_bytes);
  }
  if (binary.empty()) return r;
  r.json_bytes = out.size();
  out.reserve(out.size() + binary_bytes);
  for (const v1::Tensor* t : binary) out.append(t->raw());
  return r;
}

absl::StatusOr<std::string> RenderInferResponse(
    std::string_view model_name, uint64_t model_version, std::string_view id,
    const google::protobuf::RepeatedPtrField<v1::Tensor>& outputs,
    const std::vector<std::string>& requested, uint64_t max_bytes) {
  InferRequest request;
  request.id = std::string(id);
  request.requested_outputs = requested;
  ASSIGN_OR_RETURN(RenderedResponse r,
                   RenderInferResponse(model_name, model_version, request, outputs, max_bytes));
  return std::move(r.body);
}

}  // namespace stoa::gateway
