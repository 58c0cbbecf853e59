// Who a request comes from and what that identity may do: roles, the
// permissions each role carries, tenants and invoker function patterns.
// Authenticator (authenticator.h) makes Identities from bearer tokens, JWTs
// and client certificates; the REST layer asks RoleAllows for a route's
// permission, CoversTenant for the function's tenant and MayInvoke for the
// function's name.
//
// Thread safety: pure functions and plain values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace stoa::gateway::auth {

enum class Role { kAdmin, kDeveloper, kOperator, kInvoker };

// "admin", "developer", "operator", "invoker" (exactly, lower case).
std::optional<Role> ParseRole(std::string_view name);
std::string_view RoleName(Role role);

enum class Permission {
  kFunctionsRead,   // "functions:read"
  kFunctionsWrite,  // "functions:write"
  kInvoke,          // "functions:invoke"
  kPolicyRead,      // "policy:read"
  kPolicyWrite,     // "policy:write"
  kSchedulerRead,   // "scheduler:read"
  kMetricsRead,     // "metrics:read"
  kAuditRead,       // "audit:read"
};
std::string_view PermissionName(Permission permission);

// admin: every permission; developer: functions:read, functions:write;
// operator: policy:read, policy:write, scheduler:read, metrics:read;
// invoker: functions:invoke. (Audit is admin only.)
bool RoleAllows(Role role, Permission permission);

struct RateLimit {
  double per_second = 0;  // 0: unlimited
  double burst = 0;       // 0 with a rate: max(1, per_second)
  bool limited() const { return per_second > 0; }
  bool operator==(const RateLimit&) const = default;
};

// Glob match of a whole name: '*' any run of characters (also none), '?'
// exactly one character; every other character stands for itself.
bool MatchPattern(std::string_view pattern, std::string_view name);

// OK when `tenant` is a valid tenant name: [a-z0-9][a-z0-9_.-]{0,62};
// INVALID_ARGUMENT saying why otherwise (functions::ValidateTenantName, the
// rule the specs' tenant field follows too).
absl::Status ValidateTenantName(std::string_view tenant);

struct Identity {
  // The auth file entry's name, the JWT's sub, or the file entry a client
  // certificate maps to. Logged and audited; never a secret.
  std::string name;
  Role role = Role::kInvoker;
  std::string tenant;                  // "": every tenant
  std::vector<std::string> functions;  // invoker patterns; empty: all
  std::string source;                  // "token" | "jwt" | "certificate" | "none"
  RateLimit rate_limit;                // resolved: the entry's own, else its role's, else none

  bool Allows(Permission permission) const { return RoleAllows(role, permission); }
  // Whether this identity may see and act on a function of `function_tenant`
  // ("" is the default tenant): an identity without a tenant covers all of
  // them; one with a tenant covers only its own.
  bool CoversTenant(std::string_view function_tenant) const {
    return tenant.empty() || tenant == function_tenant;
  }
  // Whether the `functions` patterns let it invoke `function` (empty: all).
  // Says nothing about the role or the tenant: check those too.
  bool MayInvoke(std::string_view function) const;
};

// The 403 message for `identity` lacking `permission`, e.g.
// "identity \"dev\" (role developer) lacks permission policy:write".
std::string ForbiddenMessage(const Identity& identity, Permission permission);

}  // namespace stoa::gateway::auth
