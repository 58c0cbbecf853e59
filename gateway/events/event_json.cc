#include "gateway/events/event_json.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "common/utf8.h"

namespace stoa::gateway::events {
namespace {

using nlohmann::json;

std::string Rfc3339(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

bool Pending(EventStatus s) { return s == EventStatus::kQueued || s == EventStatus::kRunning; }

// A JSON body as JSON; any other body as a string (base64 when it is not
// UTF-8), with its content type.
void PutResult(const EventRecord& r, json& out) {
  if (r.status != EventStatus::kSucceeded) {
    out["result"] = nullptr;
    return;
  }
  out["result_content_type"] = r.result_content_type;
  if (absl::StartsWith(r.result_content_type, "application/json")) {
    json parsed = json::parse(r.result_body, nullptr, false);
    if (!parsed.is_discarded()) {
      out["result"] = std::move(parsed);
      return;
    }
  }
  if (common::IsValidUtf8(r.result_body)) {
    out["result"] = r.result_body;
  } else {
    out["result"] = nullptr;
    out["result_base64"] = absl::Base64Escape(r.result_body);
  }
}

}  // namespace

json EventRecordJson(const EventRecord& r) {
  json out = {{"id", r.id},
              {"function", r.function},
              {"status", EventStatusName(r.status)},
              {"tier", r.tier.empty() ? json(nullptr) : json(r.tier)},
              {"attempts", r.attempts},
              {"accepted_at", Rfc3339(r.accepted_at)},
              {"finished_at", Pending(r.status) ? json(nullptr) : json(Rfc3339(r.finished_at))},
              {"expires_at", Rfc3339(r.expires_at)}};
  PutResult(r, out);
  if (!r.error_code.empty()) {
    out["error"] = {{"code", r.error_code}, {"message", r.error_message}};
  } else {
    out["error"] = nullptr;
  }
  return out;
}

}  // namespace stoa::gateway::events
