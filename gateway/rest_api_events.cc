// RestApi's asynchronous invocations (issue 13, docs/events.md):
// POST .../invoke with Prefer: respond-async, and /v1/invocations[/{id}].
//
// Who may read or cancel an invocation: its submitter (the same principal),
// or a caller holding functions:read of the invocation's tenant (a caller
// without a tenant: any). Everyone else gets 404, as for an unknown id, so
// that ids do not leak across tenants. Without authentication: everyone.
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/json_text.h"
#include "gateway/events/event_json.h"
#include "gateway/kserve_binary.h"
#include "gateway/rest_api.h"
#include "gateway/rest_responses.h"
#include "nlohmann/json.hpp"

using stoa::common::HttpResponse;

namespace stoa::gateway {
namespace {

using nlohmann::json;
using rest::Error;
using rest::Json;

bool Pending(events::EventStatus s) {
  return s == events::EventStatus::kQueued || s == events::EventStatus::kRunning;
}

bool MayRead(const Caller& caller, const events::EventRecord& r) {
  if (!caller.identity) return true;
  if (caller.name() == r.origin.principal) return true;
  if (!caller.identity->Allows(auth::Permission::kFunctionsRead)) return false;
  return caller.tenant().empty() || caller.tenant() == r.origin.tenant;
}

}  // namespace

bool RestApi::WantsAsync(const Call& call) const {
  if (events_ == nullptr) return false;
  // RFC 7240: a comma separated list of preferences.
  const std::string prefer = absl::AsciiStrToLower(call.request.Header("prefer"));
  return absl::StrContains(prefer, "respond-async");
}

void RestApi::InvokeAsync(Call call, const StoredFunction& fn) {
  events::EventSubmission s;
  s.function = fn.spec.name();
  s.content_type = call.request.Header("content-type");
  s.inference_header_length = call.request.Header(kInferenceHeaderLength);
  s.forced_tier = call.request.Query("tier");
  if (std::string key = call.request.Header("idempotency-key"); !key.empty()) {
    if (key.size() > 256) {
      return call.respond(
          Error(absl::InvalidArgumentError("Idempotency-Key is longer than 256 bytes")));
    }
    // Scoped by tenant and function: one tenant's key never finds another's.
    s.dedup_key = absl::StrCat("http\n", call.caller.tenant(), "\n", s.function, "\n", key);
  }
  s.reply_to = call.request.Header("stoa-callback");
  if (!s.reply_to.empty() && !absl::StartsWith(s.reply_to, "http://")) {
    return call.respond(Error(absl::InvalidArgumentError(
        "Stoa-Callback must be an http:// URL (https callbacks are not supported yet)")));
  }
  s.origin.source = events::EventOrigin::Source::kHttp;
  s.origin.device_id = call.request.Header("x-device-id");
  s.origin.principal = call.caller.name();
  s.origin.tenant = call.caller.tenant();
  s.body = std::move(call.request.body);
  events_->Submit(std::move(s), [respond = call.respond](absl::StatusOr<events::Accepted> a) {
    if (!a.ok()) {
      HttpResponse r = Error(a.status());
      // Over the queue's budget: a retryable 503 rather than the 429 of a
      // caller's own rate limit.
      if (a.status().code() == absl::StatusCode::kResourceExhausted) {
        r = Json(503, common::ErrorJson("UNAVAILABLE", std::string(a.status().message())));
        r.headers.emplace_back("Retry-After", "1");
      }
      return respond(std::move(r));
    }
    HttpResponse r = Json(202, common::DumpJson(json{{"id", a->id}, {"status", "queued"}}));
    r.headers.emplace_back("Location", absl::StrCat("/v1/invocations/", a->id));
    if (a->duplicate) r.headers.emplace_back("Stoa-Duplicate", "true");
    respond(std::move(r));
  });
}

void RestApi::GetInvocation(Call call) {
  if (events_ == nullptr) {
    return call.respond(Error(absl::NotFoundError("asynchronous invocations are off")));
  }
  auto record = events_->Get(call.name);
  if (!record || !MayRead(call.caller, *record)) {
    return call.respond(
        Error(absl::NotFoundError(absl::StrCat("no invocation '", call.name, "'"))));
  }
  call.respond(Json(Pending(record->status) ? 202 : 200,
                    common::DumpJson(events::EventRecordJson(*record))));
}

void RestApi::DeleteInvocation(Call call) {
  if (events_ == nullptr) {
    return call.respond(Error(absl::NotFoundError("asynchronous invocations are off")));
  }
  auto record = events_->Get(call.name);
  if (!record || !MayRead(call.caller, *record)) {
    return call.respond(
        Error(absl::NotFoundError(absl::StrCat("no invocation '", call.name, "'"))));
  }
  // Answered once the cancelled state is durable (the queue calls back
  // after its fsync), so a crash after the 200 cannot run the event.
  events_->Cancel(
      call.name, [events = events_, id = call.name, respond = call.respond](absl::Status s) {
        if (!s.ok()) return respond(Error(s));
        auto cancelled = events->Get(id);
        if (!cancelled)
          return respond(Error(absl::NotFoundError(absl::StrCat("no invocation '", id, "'"))));
        respond(Json(200, common::DumpJson(events::EventRecordJson(*cancelled))));
      });
}

void RestApi::ListInvocations(Call call) {
  if (events_ == nullptr) {
    return call.respond(Error(absl::NotFoundError("asynchronous invocations are off")));
  }
  const std::string name = call.request.Query("status");
  auto status = events::ParseEventStatus(name.empty() ? "failed" : name);
  if (!status) {
    return call.respond(Error(absl::InvalidArgumentError(absl::StrCat(
        "query parameter 'status' must be queued, running, succeeded, failed or expired, got '",
        common::EchoLimited(name), "'"))));
  }
  size_t limit = 100;
  if (std::string l = call.request.Query("limit"); !l.empty()) {
    if (!absl::SimpleAtoi(l, &limit) || limit == 0 || limit > 10000) {
      return call.respond(
          Error(absl::InvalidArgumentError("query parameter 'limit' must be 1..10000")));
    }
  }
  json items = json::array();
  for (const events::EventRecord& r : events_->List(*status, limit * 4 + 16)) {
    if (items.size() >= limit) break;
    if (MayRead(call.caller, r)) items.push_back(events::EventRecordJson(r));
  }
  call.respond(Json(200, common::DumpJson(json{{"invocations", items}})));
}

}  // namespace stoa::gateway
