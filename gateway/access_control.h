// Who may do what at the gateway's REST API (docs/security.md): the
// decisions RestApi asks for, on top of the Authenticator (gateway/auth/),
// which says who a request comes from.
//
//  - Admit: authenticates a request to a route that needs `permission`
//    (routes without one, the health checks, are open), charges the
//    caller's rate limit and checks the role. UNAUTHENTICATED (401) when
//    credentials are missing or invalid, RESOURCE_EXHAUSTED (429, with
//    Retry-After) over the rate limit, PERMISSION_DENIED (403) naming the
//    permission the role lacks. Without an Authenticator (no --auth-file, no
//    JWT key) every request is admitted as "anonymous" with every
//    permission: the gateway then listens on loopback only, or with
//    --insecure.
//  - Tenants: function names are one namespace for every tenant (as S3
//    bucket names are). A function belongs to the tenant of the identity
//    that registered it (FunctionSpec.tenant; an identity without a tenant
//    may name one in the spec). A caller with a tenant sees, changes and
//    invokes only its tenant's functions: another tenant's function is
//    NOT_FOUND to it, exactly as a name nobody uses, except that
//    registering a taken name is ALREADY_EXISTS whoever owns it.
//  - Invokers limited to name patterns get PERMISSION_DENIED for other
//    names, before the function is even looked up (so the answer does not
//    say whether it exists).
//  - Cluster-wide views (the global policy's changes, /metrics) need a
//    caller without a tenant; /v1/scheduler/state and /v1/audit are
//    filtered to the caller's tenant.
//
// Thread safety: all methods are thread-safe.
// Ownership: the Authenticator must outlive this.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/http_types.h"
#include "gateway/auth/authenticator.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

// Who sent a request. Without authentication: "anonymous", every permission.
struct Caller {
  std::optional<auth::Identity> identity;
  std::string client;  // the peer's IP address

  const std::string& tenant() const;  // "" : every tenant
  std::string name() const;           // "anonymous" without authentication
  std::string role() const;           // "" without authentication
};

class AccessControl {
 public:
  struct Options {
    bool metrics_public = false;  // --metrics-public: GET /metrics needs no credentials
  };
  // `authenticator` null (or not enabled()): every request is admitted.
  AccessControl(auth::Authenticator* authenticator, Options options);

  bool enabled() const { return authenticator_ != nullptr; }

  // Who the caller is, for a route that needs one of `permissions` (none:
  // an open route, the caller is anonymous): UNAUTHENTICATED (401) or,
  // over the caller's rate limit, RESOURCE_EXHAUSTED (429).
  absl::StatusOr<Caller> Authenticate(const common::HttpRequest& request,
                                      const std::vector<auth::Permission>& permissions) const;
  // PERMISSION_DENIED (403) unless the caller's role holds one of
  // `permissions`; `what` names the route ("POST /v1/functions").
  static absl::Status Authorize(const Caller& caller,
                                const std::vector<auth::Permission>& permissions,
                                const std::string& what);

  // Whether the caller's tenant may see the function.
  static bool Sees(const Caller& caller, const v1::FunctionSpec& spec);
  // NOT_FOUND (the control plane's message) unless Sees.
  static absl::Status CheckTenant(const Caller& caller, const v1::FunctionSpec& spec);
  // PERMISSION_DENIED unless an invoker's patterns allow `function`.
  static absl::Status CheckInvoke(const Caller& caller, const std::string& function);
  // PERMISSION_DENIED for a caller with a tenant: `what` is cluster-wide.
  static absl::Status CheckClusterWide(const Caller& caller, const std::string& what);
  // The tenant a registration by `caller` gets: the caller's, else the
  // spec's (an identity without a tenant may name one), else the existing
  // function's. PERMISSION_DENIED when a caller with a tenant names another.
  static absl::StatusOr<std::string> OwnerFor(const Caller& caller, const std::string& spec_tenant,
                                              const std::string& existing_tenant);

 private:
  auth::Authenticator* const authenticator_;
  const Options options_;
};

// The answer to a refused request: `status`'s HTTP code and ErrorJson body,
// plus WWW-Authenticate for 401 and Retry-After for 429/503.
common::HttpResponse ErrorResponse(const absl::Status& status);

}  // namespace stoa::gateway
