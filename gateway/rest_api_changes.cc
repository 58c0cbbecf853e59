// The REST API's changes: registration, replacement and deletion of
// functions, the placement policies, and the audit trail they leave
// (rest_api.h). Split from rest_api.cc, which routes and reads.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/json_text.h"
#include "common/request_limits.h"
#include "common/status_macros.h"
#include "gateway/registration_body.h"
#include "gateway/rest_api.h"
#include "gateway/rest_responses.h"
#include "gateway/spec_json.h"
#include "nlohmann/json.hpp"
#include "scheduler/policy_config.h"

using stoa::common::HttpRequest;
using stoa::common::HttpResponse;

namespace stoa::gateway {
namespace {

using nlohmann::json;
using rest::Error;
using rest::Json;
using rest::NoContent;

// What an audit entry says about a stored function.
json FunctionFacts(const v1::FunctionSpec& spec) {
  return json{{"version", spec.version()}, {"sha256", spec.sha256()}, {"runtime", spec.runtime()}};
}

// A policy document as JSON (for before/after in the audit trail).
json PolicyFacts(const scheduler::PolicyConfig& policy) {
  return json::parse(scheduler::PolicyToJson(policy), nullptr, false);
}

}  // namespace

void RestApi::Record(const Call& call, std::string action, const std::string& target_tenant,
                     const absl::Status& outcome, int http_status, json details) const {
  if (audit_ == nullptr) return;
  AuditEntry entry;
  entry.identity = call.caller.name();
  entry.source = call.caller.identity ? call.caller.identity->source : "";
  entry.role = call.caller.role();
  entry.tenant = call.caller.tenant();
  entry.client = call.caller.client;
  entry.action = std::move(action);
  entry.target = call.name;
  entry.target_tenant = target_tenant;
  entry.status = http_status;
  entry.outcome = outcome.ok()                                            ? "ok"
                  : outcome.code() == absl::StatusCode::kPermissionDenied ? "denied"
                                                                          : "error";
  if (!outcome.ok()) details["error"] = std::string(outcome.message());
  entry.details = std::move(details);
  (void)audit_->Record(std::move(entry));  // a write error is logged by the log
}

void RestApi::Register(Call call) { Store(std::move(call), false); }

void RestApi::Upsert(Call call) { Store(std::move(call), true); }

void RestApi::Store(Call call, bool replace) {
  const std::string path_name = call.name;
  auto reg = ParseRegistration(call.request, limits_, upload_dir_);
  if (reg.ok() && !path_name.empty() && reg->spec.name() != path_name) {
    reg = absl::InvalidArgumentError(absl::StrCat("spec name '", reg->spec.name(),
                                                  "' does not match the path's '", path_name, "'"));
  }
  if (reg.ok()) call.name = reg->spec.name();
  const char* action = replace ? "function.replace" : "function.register";
  auto refuse = [&](const absl::Status& s, const std::string& target_tenant) {
    HttpResponse r = Error(s);
    Record(call, action, target_tenant, s, r.status, json::object());
    call.respond(std::move(r));
  };
  if (!reg.ok()) return refuse(reg.status(), "");
  // The previous version, for the owner check and the audit trail.
  absl::StatusOr<StoredFunction> previous = control_.Get(call.name);
  std::string existing_tenant;
  if (previous.ok()) {
    existing_tenant = previous->spec.tenant();
    if (replace && !AccessControl::Sees(call.caller, previous->spec)) {
      return refuse(absl::AlreadyExistsError(absl::StrCat(
                        "function name '", call.name,
                        "' is taken by another tenant (function names are shared by every "
                        "tenant)")),
                    existing_tenant);
    }
  }
  auto owner = AccessControl::OwnerFor(call.caller, reg->spec.tenant(), existing_tenant);
  if (!owner.ok()) return refuse(owner.status(), reg->spec.tenant());
  reg->spec.set_tenant(*owner);
  auto stored = control_.Register(*std::move(reg), replace);
  if (!stored.ok()) return refuse(stored.status(), *owner);
  json details = FunctionFacts(stored->spec);
  details["previous"] = previous.ok() && replace ? FunctionFacts(previous->spec) : json(nullptr);
  HttpResponse r =
      Json(stored->created ? 201 : 200, common::DumpJson(FunctionSpecToJson(stored->spec)));
  r.headers.emplace_back("Location", absl::StrCat("/v1/functions/", stored->spec.name()));
  Record(call, stored->created ? "function.register" : "function.replace", *owner, absl::OkStatus(),
         r.status, std::move(details));
  call.respond(std::move(r));
}

void RestApi::Delete(Call call) {
  auto fn = Visible(call);
  absl::Status s = fn.status();
  // The tenant checked again under the deletion's lock: the function may
  // have been replaced by another tenant's since Visible looked.
  if (s.ok()) {
    s = control_.Delete(call.name, [&call](const v1::FunctionSpec& spec) {
      return AccessControl::CheckTenant(call.caller, spec);
    });
  }
  const std::string tenant = fn.ok() ? fn->spec.tenant() : "";
  HttpResponse r = s.ok() ? NoContent() : Error(s);
  Record(call, "function.delete", tenant, s, r.status,
         fn.ok() ? FunctionFacts(fn->spec) : json::object());
  call.respond(std::move(r));
}

void RestApi::PutFunctionPolicy(Call call) {
  auto fn = Visible(call);
  absl::Status s = fn.status();
  absl::StatusOr<scheduler::PolicyConfig> policy = absl::UnknownError("not parsed");
  json details = json::object();
  if (s.ok()) {
    s = common::CheckJsonDepth(call.request.body, limits_.max_json_depth, "the policy");
  }
  if (s.ok()) {
    policy = scheduler::ParsePolicyJson(call.request.body);
    s = policy.status();
  }
  if (s.ok()) {
    if (auto before = control_.GetFunctionPolicy(call.name); before.ok() && before->own) {
      details["before"] = PolicyFacts(before->policy);
    } else {
      details["before"] = nullptr;
    }
    s = control_.SetFunctionPolicy(call.name, *policy);
  }
  const std::string tenant = fn.ok() ? fn->spec.tenant() : "";
  if (!s.ok()) {
    HttpResponse r = Error(s);
    Record(call, "function_policy.set", tenant, s, r.status, std::move(details));
    return call.respond(std::move(r));
  }
  details["after"] = PolicyFacts(*policy);
  HttpResponse r = Json(200, scheduler::PolicyToJson(*policy));
  r.headers.emplace_back("X-Stoa-Policy-Source", "function");
  Record(call, "function_policy.set", tenant, s, r.status, std::move(details));
  call.respond(std::move(r));
}

void RestApi::DeleteFunctionPolicy(Call call) {
  auto fn = Visible(call);
  absl::Status s = fn.status();
  json details = json::object();
  if (s.ok()) {
    if (auto before = control_.GetFunctionPolicy(call.name); before.ok() && before->own) {
      details["before"] = PolicyFacts(before->policy);
    }
    s = control_.ClearFunctionPolicy(call.name);
  }
  HttpResponse r = s.ok() ? NoContent() : Error(s);
  Record(call, "function_policy.clear", fn.ok() ? fn->spec.tenant() : "", s, r.status,
         std::move(details));
  call.respond(std::move(r));
}

void RestApi::PutPolicy(Call call) {
  // Like the invoke routes, the body is JSON whatever the Content-Type says
  // (curl -d sends application/x-www-form-urlencoded).
  absl::Status s = AccessControl::CheckClusterWide(call.caller, "PUT /v1/policy");
  absl::StatusOr<scheduler::PolicyConfig> policy = absl::UnknownError("not parsed");
  if (s.ok()) s = common::CheckJsonDepth(call.request.body, limits_.max_json_depth, "the policy");
  if (s.ok()) {
    policy = scheduler::ParsePolicyJson(call.request.body);
    s = policy.status();
  }
  json details = {{"before", PolicyFacts(control_.GetPolicy())}};
  if (s.ok()) s = control_.SetPolicy(*policy);
  if (!s.ok()) {
    HttpResponse r = Error(s);
    Record(call, "policy.set", "", s, r.status, std::move(details));
    return call.respond(std::move(r));
  }
  details["after"] = PolicyFacts(*policy);
  HttpResponse r = Json(200, scheduler::PolicyToJson(*policy));
  Record(call, "policy.set", "", s, r.status, std::move(details));
  call.respond(std::move(r));
}

void RestApi::Audit(Call call) {
  size_t limit = 100;
  if (std::string text = call.request.Query("limit"); !text.empty()) {
    if (!absl::SimpleAtoi(text, &limit) || limit == 0 || limit > 10000) {
      return call.respond(Error(absl::InvalidArgumentError(
          absl::StrCat("query parameter 'limit' must be an integer in 1..10000, got '",
                       common::EchoLimited(text), "'"))));
    }
  }
  json entries = json::array();
  if (audit_ != nullptr) {
    for (const AuditEntry& e : audit_->Last(limit, call.caller.tenant())) {
      entries.push_back(AuditEntryToJson(e));
    }
  }
  call.respond(Json(200, common::DumpJson(json{{"entries", entries}})));
}

}  // namespace stoa::gateway
