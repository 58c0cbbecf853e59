#include "gateway/access_control.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/http_status.h"
#include "common/overload.h"

namespace stoa::gateway {
namespace {

// The roles that hold one of the permissions, for refusal messages.
std::string RolesWith(const std::vector<auth::Permission>& permissions) {
  std::vector<std::string> roles;
  for (auth::Role role :
       {auth::Role::kAdmin, auth::Role::kDeveloper, auth::Role::kOperator, auth::Role::kInvoker}) {
    if (std::any_of(permissions.begin(), permissions.end(),
                    [&](auth::Permission p) { return auth::RoleAllows(role, p); })) {
      roles.emplace_back(auth::RoleName(role));
    }
  }
  return absl::StrJoin(roles, " or ");
}

std::string Describe(const auth::Identity& id) {
  return absl::StrCat(id.source, " '", id.name, "' (role ", std::string(auth::RoleName(id.role)),
                      id.tenant.empty() ? "" : absl::StrCat(", tenant '", id.tenant, "'"), ")");
}

}  // namespace

const std::string& Caller::tenant() const {
  static const std::string kNone;
  return identity ? identity->tenant : kNone;
}

std::string Caller::name() const { return identity ? identity->name : "anonymous"; }

std::string Caller::role() const {
  return identity ? std::string(auth::RoleName(identity->role)) : "";
}

AccessControl::AccessControl(auth::Authenticator* authenticator, Options options)
    : authenticator_(authenticator != nullptr && authenticator->enabled() ? authenticator
                                                                          : nullptr),
      options_(options) {}

absl::StatusOr<Caller> AccessControl::Authenticate(
    const common::HttpRequest& request, const std::vector<auth::Permission>& permissions) const {
  Caller caller;
  caller.client = request.client;
  if (authenticator_ == nullptr || permissions.empty()) return caller;
  if (options_.metrics_public && permissions.size() == 1 &&
      permissions.front() == auth::Permission::kMetricsRead) {
    return caller;
  }
  absl::StatusOr<auth::Identity> identity = authenticator_->Authenticate(request);
  if (!identity.ok()) return identity.status();
  if (absl::Status charged = authenticator_->Charge(*identity); !charged.ok()) return charged;
  caller.identity = *std::move(identity);
  return caller;
}

absl::Status AccessControl::Authorize(const Caller& caller,
                                      const std::vector<auth::Permission>& permissions,
                                      const std::string& what) {
  if (!caller.identity || permissions.empty()) return absl::OkStatus();
  const auth::Identity& id = *caller.identity;
  if (std::any_of(permissions.begin(), permissions.end(),
                  [&](auth::Permission p) { return id.Allows(p); })) {
    return absl::OkStatus();
  }
  std::vector<std::string> names;
  for (auth::Permission p : permissions) names.emplace_back(auth::PermissionName(p));
  return absl::PermissionDeniedError(absl::StrCat(Describe(id), " lacks permission ",
                                                  absl::StrJoin(names, " or "), ", which ", what,
                                                  " needs (roles: ", RolesWith(permissions), ")"));
}

bool AccessControl::Sees(const Caller& caller, const v1::FunctionSpec& spec) {
  return !caller.identity || caller.identity->CoversTenant(spec.tenant());
}

absl::Status AccessControl::CheckTenant(const Caller& caller, const v1::FunctionSpec& spec) {
  if (Sees(caller, spec)) return absl::OkStatus();
  // The control plane's own words for an unknown name: the caller cannot
  // tell another tenant's function from no function.
  return absl::NotFoundError(absl::StrCat("function '", spec.name(), "' not found"));
}

absl::Status AccessControl::CheckInvoke(const Caller& caller, const std::string& function) {
  if (!caller.identity || caller.identity->MayInvoke(function)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(Describe(*caller.identity), " may not invoke '", function,
                   "' (permission functions:invoke is limited to: ",
                   absl::StrJoin(caller.identity->functions, ", "), ")"));
}

absl::Status AccessControl::CheckClusterWide(const Caller& caller, const std::string& what) {
  if (caller.tenant().empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(Describe(*caller.identity), ": ", what,
                   " concerns every tenant; it needs an identity without a tenant"));
}

absl::StatusOr<std::string> AccessControl::OwnerFor(const Caller& caller,
                                                    const std::string& spec_tenant,
                                                    const std::string& existing_tenant) {
  if (!caller.tenant().empty()) {
    if (!spec_tenant.empty() && spec_tenant != caller.tenant()) {
      return absl::PermissionDeniedError(absl::StrCat(
          Describe(*caller.identity), " may not register functions of tenant '", spec_tenant, "'"));
    }
    return caller.tenant();
  }
  if (!spec_tenant.empty()) return spec_tenant;
  return existing_tenant;
}

common::HttpResponse ErrorResponse(const absl::Status& status) {
  common::HttpResponse r;
  r.status = common::ToHttpStatus(status);
  r.body = common::ErrorJson(status);
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    r.headers.emplace_back("WWW-Authenticate", auth::WwwAuthenticate(status));
  }
  // Rate limits and admission refusals (429, 503) say when to come back.
  if (auto seconds = common::RetryAfterSeconds(status)) {
    r.headers.emplace_back("Retry-After", std::to_string(*seconds));
  }
  return r;
}

}  // namespace stoa::gateway
