#include "gateway/auth/identity.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "functions/spec_rules.h"

namespace stoa::gateway::auth {

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "developer") return Role::kDeveloper;
  if (name == "operator") return Role::kOperator;
  if (name == "invoker") return Role::kInvoker;
  return std::nullopt;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kDeveloper:
      return "developer";
    case Role::kOperator:
      return "operator";
    case Role::kInvoker:
      return "invoker";
  }
  return "unknown";
}

std::string_view PermissionName(Permission permission) {
  switch (permission) {
    case Permission::kFunctionsRead:
      return "functions:read";
    case Permission::kFunctionsWrite:
      return "functions:write";
    case Permission::kInvoke:
      return "functions:invoke";
    case Permission::kPolicyRead:
      return "policy:read";
    case Permission::kPolicyWrite:
      return "policy:write";
    case Permission::kSchedulerRead:
      return "scheduler:read";
    case Permission::kMetricsRead:
      return "metrics:read";
    case Permission::kAuditRead:
      return "audit:read";
  }
  return "unknown";
}

bool RoleAllows(Role role, Permission permission) {
  switch (role) {
    case Role::kAdmin:
      return true;
    case Role::kDeveloper:
      return permission == Permission::kFunctionsRead || permission == Permission::kFunctionsWrite;
    case Role::kOperator:
      return permission == Permission::kPolicyRead || permission == Permission::kPolicyWrite ||
             permission == Permission::kSchedulerRead || permission == Permission::kMetricsRead;
    case Role::kInvoker:
      return permission == Permission::kInvoke;
  }
  return false;
}

bool MatchPattern(std::string_view pattern, std::string_view name) {
  // Iterative glob with one backtrack point: linear in practice, never
  // exponential whatever the number of stars.
  size_t p = 0, n = 0;
  size_t star = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_n = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::Status ValidateTenantName(std::string_view tenant) {
  return functions::ValidateTenantName(tenant);
}

bool Identity::MayInvoke(std::string_view function) const {
  if (functions.empty()) return true;
  for (const auto& pattern : functions) {
    if (MatchPattern(pattern, function)) return true;
  }
  return false;
}

std::string ForbiddenMessage(const Identity& identity, Permission permission) {
  return absl::StrCat("identity \"", absl::CHexEscape(identity.name), "\" (role ",
                      std::string(RoleName(identity.role)), ") lacks permission ",
                      std::string(PermissionName(permission)));
}

}  // namespace stoa::gateway::auth
