// The REST API of the gateway (DESIGN.md § REST API) as a common::HttpHandler, so
// it runs behind the Beast server and is tested through Handle() alone.
//
// Routes:
//   POST   /v1/functions                  register (multipart spec+artifact,
//                                         or JSON with artifact_base64) 201
//   PUT    /v1/functions/{name}           create 201 / replace 200
//   GET    /v1/functions[/{name}]         list / describe with per-tier stats
//   DELETE /v1/functions/{name}           204
//   POST   /v1/functions/{name}/invoke    KServe v2 JSON (ONNX) or raw (Wasm);
//                                         ?tier=edge|cloud forces a tier
//   GET|PUT|DELETE /v1/functions/{name}/policy
//                                         per-function override (same document
//                                         as /v1/policy; validated, persisted
//                                         with the function, applied to the
//                                         next request). GET answers the
//                                         effective document with
//                                         X-Stoa-Policy-Source: function|global
//   POST   /v2/models/{name}/infer        alias of invoke
//   GET    /v2/models/{name}[/ready]      KServe model metadata / readiness
//   GET    /v2/health/ready|live, /healthz, /readyz (503 with a reason
//                                         while no tier is configured or
//                                         every tier is saturated)
//   GET|PUT /v1/policy                    placement policy (persisted, applied)
//   GET    /v1/scheduler/state            the scheduler's view (per function ×
//                                         tier: prediction per term, errors,
//                                         decisions by reason; circuits)
//   GET    /metrics                       Prometheus text format 0.0.4
//   GET    /v1/audit[?limit=N]            the newest audit entries, newest
//                                         first (gateway/audit_log.h)
//   With an EventQueue (docs/events.md): invoke with Prefer: respond-async
//   → 202 + Location once durable (Idempotency-Key, Stoa-Callback,
//   X-Device-Id); GET|DELETE /v1/invocations/{id};
//   GET /v1/invocations?status=failed|expired|…[&limit=N]
//   (gateway/rest_api_events.cc).
// Access (gateway/access_control.h, docs/security.md): each route needs a
// permission (the table in the constructor); the health checks are open.
// Without an AccessControl that is enabled, every request is allowed.
// Changes (register, replace, delete, policies), and changes refused for
// want of permission, are recorded in the AuditLog when one is given.
// Invocation responses carry X-Stoa-Tier, X-Stoa-Reason (predicted-best,
// explore, hedge, failover, forced, policy), X-Stoa-Predicted-Ms,
// X-Stoa-Latency-Ms, X-Stoa-Cold-Start.
// RestApi is an HTTP codec only: it parses requests, calls the ControlPlane
// (functions, policies), the Invoker (invocations, tier health) and the
// scheduler's Snapshot (state), and renders their answers. Errors: every
// error body is common::ErrorJson with common::ToHttpStatus's code (the
// table in docs/architecture.md § Errors); an unknown path is 404, a known
// path with another method 405 (with Allow).
// Metrics: stoa_http_requests_total{route,code}, route = the template.
//
// Thread safety: Handle is called concurrently from the server's threads.
// Invocations never block it (the dispatcher answers later); control-plane
// requests (registration, delete, policy) that parse models and fsync run
// on a small pool of their own.
// Ownership: everything passed in must outlive the RestApi; the destructor
// finishes the control-plane requests already accepted.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/http_types.h"
#include "common/metrics.h"
#include "common/request_limits.h"
#include "common/thread_pool.h"
#include "gateway/access_control.h"
#include "gateway/audit_log.h"
#include "gateway/control_plane.h"
#include "gateway/events/event_queue.h"
#include "gateway/invoker.h"
#include "scheduler/scheduler.h"

namespace stoa::gateway {

class RestApi final : public common::HttpHandler {
 public:
  struct Options {
    size_t control_threads = 2;
    // The operator's limits on JSON nesting, specs, multipart bodies,
    // artifacts and the JSON text of responses (docs/limits.md).
    common::RequestLimits limits;
    // Who may do what; null: everything is allowed (no authentication).
    const AccessControl* access = nullptr;
    // Where changes are recorded; null: nowhere.
    AuditLog* audit = nullptr;
    // Asynchronous invocations; null: Prefer: respond-async is ignored.
    events::EventQueue* events = nullptr;
    // Where registrations stage their artifacts (FunctionRegistry::
    // upload_dir(), the same file system as the store); "": the system's
    // temp directory.
    std::string upload_dir;
    // GET /v1/scheduler/state's "split" object for the caller's visible
    // functions (docs/split.md, split_json.h); null: no such object.
    std::function<nlohmann::json(const std::vector<v1::FunctionSpec>&)> split_state;
  };

  RestApi(ControlPlane& control, Invoker& invoker, const scheduler::Scheduler& scheduler,
          common::metrics::Registry& metrics, Options options);
  ~RestApi() override;
  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;

  void Handle(common::HttpRequest request, common::HttpResponder respond) override;
  // Readiness (/readyz, /v2/health/ready) turns false for good: a shutdown
  // has begun. Everything else is still served.
  void SetShuttingDown() { shutting_down_.store(true, std::memory_order_relaxed); }

 private:
  // One request on its way through a route's handler.
  struct Call {
    common::HttpRequest request;
    std::string name;  // the {name} of the route, "" if none
    Caller caller;
    common::HttpResponder respond;
  };
  using Method = void (RestApi::*)(Call call);
  struct Route {
    std::string method;
    std::string pattern;  // "/v1/functions/{name}/invoke"
    std::vector<std::string> segments;
    Method handler;
    bool control_plane;  // a change: runs on the control pool, audited when refused
    // Any one of them admits the caller; empty: an open route.
    std::vector<auth::Permission> permissions;
    std::string action;  // of a change, in the audit trail ("function.delete")
  };

  void AddRoute(std::string method, std::string pattern, Method handler, bool control_plane,
                std::vector<auth::Permission> permissions, std::string action = "");
  // The route for `request`, with the captured {name}; nullptr when none
  // matches. `allowed`: the methods of the routes on the same path; `label`:
  // the matched (else the first same-path) route's pattern, kept if none.
  const Route* Match(const common::HttpRequest& request, std::string& name,
                     std::vector<std::string>& allowed, std::string& label) const;
  // Authenticates and authorizes `request` for `route` (401, 429, 403); a
  // change refused for want of permission is audited.
  absl::StatusOr<Caller> Admit(const common::HttpRequest& request, const Route& route,
                               const std::string& name) const;

  void Register(Call call);
  void Upsert(Call call);
  void List(Call call);
  void Describe(Call call);
  void Delete(Call call);
  void Invoke(Call call);
  void GetFunctionPolicy(Call call);
  void PutFunctionPolicy(Call call);
  void DeleteFunctionPolicy(Call call);
  void ModelMetadata(Call call);
  void ModelReady(Call call);
  void GetPolicy(Call call);
  void PutPolicy(Call call);
  void SchedulerState(Call call);
  void Metrics(Call call);
  void Audit(Call call);
  void Healthz(Call call);
  void Readyz(Call call);
  // rest_api_events.cc
  bool WantsAsync(const Call& call) const;
  void InvokeAsync(Call call, const StoredFunction& fn);
  void GetInvocation(Call call);
  void DeleteInvocation(Call call);
  void ListInvocations(Call call);

  // The function `call.name` names, if the caller may see it (NOT_FOUND
  // otherwise, as for an unknown name).
  absl::StatusOr<StoredFunction> Visible(const Call& call) const;
  // Visible, for the KServe metadata routes: an invoker (no functions:read)
  // reads a model's metadata only within its name patterns.
  absl::StatusOr<StoredFunction> VisibleModel(const Call& call) const;
  // Records a change (or a refused one) in the audit log, if any.
  void Record(const Call& call, std::string action, const std::string& target_tenant,
              const absl::Status& outcome, int http_status, nlohmann::json details) const;
  // Registration and replacement (`path_name` "": POST).
  void Store(Call call, bool replace);
  bool Ready() const;
  // "" when ready; else why not: no tier, or every tier saturated.
  std::string ReadyStatus() const;

  ControlPlane& control_;
  Invoker& invoker_;
  const scheduler::Scheduler& scheduler_;
  common::metrics::Registry& metrics_;
  common::metrics::Family<common::metrics::Counter>& http_requests_;
  std::vector<Route> routes_;
  const common::RequestLimits limits_;
  const std::string upload_dir_;
  const AccessControl* const access_;
  AuditLog* const audit_;
  events::EventQueue* const events_;
  const std::function<nlohmann::json(const std::vector<v1::FunctionSpec>&)> split_state_;
  std::atomic<bool> shutting_down_{false};
  common::ThreadPool control_pool_;  // last: drained first
};

}  // namespace stoa::gateway
