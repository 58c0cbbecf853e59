#include "gateway/auth/identity.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

namespace stoa::gateway::auth {
namespace {

constexpr Role kRoles[] = {Role::kAdmin, Role::kDeveloper, Role::kOperator, Role::kInvoker};
constexpr Permission kPermissions[] = {Permission::kFunctionsRead, Permission::kFunctionsWrite,
                                       Permission::kInvoke,        Permission::kPolicyRead,
                                       Permission::kPolicyWrite,   Permission::kSchedulerRead,
                                       Permission::kMetricsRead,   Permission::kAuditRead};

TEST(RoleTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (Role role : kRoles) EXPECT_EQ(ParseRole(RoleName(role)), role);
  EXPECT_FALSE(ParseRole("Admin"));
  EXPECT_FALSE(ParseRole("root"));
  EXPECT_FALSE(ParseRole(""));
}

TEST(PermissionTest, NamesAreTheDocumentedOnes) {
  std::set<std::string> names;
  for (Permission p : kPermissions) names.insert(std::string(PermissionName(p)));
  EXPECT_EQ(names, (std::set<std::string>{"functions:read", "functions:write", "functions:invoke",
                                          "policy:read", "policy:write", "scheduler:read",
                                          "metrics:read", "audit:read"}));
}

TEST(RoleAllowsTest, EveryRoleAgainstEveryPermission) {
  const std::set<std::pair<Role, Permission>> allowed = {
      {Role::kDeveloper, Permission::kFunctionsRead},
      {Role::kDeveloper, Permission::kFunctionsWrite},
      {Role::kOperator, Permission::kPolicyRead},
      {Role::kOperator, Permission::kPolicyWrite},
      {Role::kOperator, Permission::kSchedulerRead},
      {Role::kOperator, Permission::kMetricsRead},
      {Role::kInvoker, Permission::kInvoke},
  };
  for (Role role : kRoles) {
    for (Permission p : kPermissions) {
      const bool expected = role == Role::kAdmin || allowed.count({role, p}) > 0;
      EXPECT_EQ(RoleAllows(role, p), expected) << RoleName(role) << " " << PermissionName(p);
      Identity id;
      id.role = role;
      EXPECT_EQ(id.Allows(p), expected);
    }
  }
}

TEST(MatchPatternTest, StarsAndQuestionMarks) {
  EXPECT_TRUE(MatchPattern("digits", "digits"));
  EXPECT_FALSE(MatchPattern("digits", "digits2"));
  EXPECT_FALSE(MatchPattern("digits", "digit"));
  EXPECT_TRUE(MatchPattern("anomaly-*", "anomaly-"));
  EXPECT_TRUE(MatchPattern("anomaly-*", "anomaly-cpu"));
  EXPECT_FALSE(MatchPattern("anomaly-*", "anomaly"));
  EXPECT_FALSE(MatchPattern("anomaly-*", "xanomaly-cpu"));
  EXPECT_TRUE(MatchPattern("*", ""));
  EXPECT_TRUE(MatchPattern("*", "anything"));
  EXPECT_TRUE(MatchPattern("a?c", "abc"));
  EXPECT_FALSE(MatchPattern("a?c", "ac"));
  EXPECT_TRUE(MatchPattern("*-v?", "model-v2"));
  EXPECT_TRUE(MatchPattern("a*b*c", "axxbyyc"));
  EXPECT_FALSE(MatchPattern("a*b*c", "axxbyy"));
  EXPECT_TRUE(MatchPattern("**x", "x"));
  EXPECT_FALSE(MatchPattern("", "x"));
  EXPECT_TRUE(MatchPattern("", ""));
}

TEST(MatchPatternTest, ManyStarsStayFast) {
  // A backtracking matcher would take exponential time here.
  const std::string name(2000, 'a');
  EXPECT_FALSE(MatchPattern("*a*a*a*a*a*a*a*a*a*a*b", name));
}

TEST(TenantTest, NamesFollowTheRule) {
  EXPECT_TRUE(ValidateTenantName("acme").ok());
  EXPECT_TRUE(ValidateTenantName("0-team_a.b").ok());
  EXPECT_TRUE(ValidateTenantName(std::string(63, 'a')).ok());
  EXPECT_FALSE(ValidateTenantName("").ok());
  EXPECT_FALSE(ValidateTenantName(std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidateTenantName("Acme").ok());
  EXPECT_FALSE(ValidateTenantName("-acme").ok());
  EXPECT_FALSE(ValidateTenantName("ac me").ok());
  EXPECT_FALSE(ValidateTenantName("acme/x").ok());
  EXPECT_NE(ValidateTenantName("a/b").message().find("outside [a-z0-9_.-]"),
            absl::string_view::npos);
}

TEST(IdentityTest, TenantCoversOnlyItsOwnFunctionsUnlessUnset) {
  Identity global;
  EXPECT_TRUE(global.CoversTenant(""));
  EXPECT_TRUE(global.CoversTenant("acme"));
  Identity acme;
  acme.tenant = "acme";
  EXPECT_TRUE(acme.CoversTenant("acme"));
  EXPECT_FALSE(acme.CoversTenant("globex"));
  EXPECT_FALSE(acme.CoversTenant(""));
}

TEST(IdentityTest, InvokerPatternsLimitWhatItMayInvoke) {
  Identity id;
  EXPECT_TRUE(id.MayInvoke("anything"));
  id.functions = {"digits", "anomaly-*"};
  EXPECT_TRUE(id.MayInvoke("digits"));
  EXPECT_TRUE(id.MayInvoke("anomaly-gpu"));
  EXPECT_FALSE(id.MayInvoke("resnet"));
  EXPECT_FALSE(id.MayInvoke("digits-v2"));
}

TEST(IdentityTest, ForbiddenMessageNamesIdentityRoleAndPermission) {
  Identity id;
  id.name = "dev";
  id.role = Role::kDeveloper;
  EXPECT_EQ(ForbiddenMessage(id, Permission::kPolicyWrite),
            "identity \"dev\" (role developer) lacks permission policy:write");
}

}  // namespace
}  // namespace stoa::gateway::auth
