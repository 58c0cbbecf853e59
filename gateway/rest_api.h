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

#include <memory>
#include <string>
#include <vector>

#include "common/http_types.h"
#include "common/metrics.h"
#include "common/request_limits.h"
#include "common/thread_pool.h"
#include "gateway/control_plane.h"
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
  };

  RestApi(ControlPlane& control, Invoker& invoker, const scheduler::Scheduler& scheduler,
          common::metrics::Registry& metrics, Options options);
  ~RestApi() override;
  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;

  void Handle(common::HttpRequest request, common::HttpResponder respond) override;

 private:
  using Method = void (RestApi::*)(common::HttpRequest request, std::string name,
                                   common::HttpResponder respond);
  struct Route {
    std::string method;
    std::string pattern;  // "/v1/functions/{name}/invoke"
    std::vector<std::string> segments;
    Method handler;
    bool control_plane;  // runs on the control pool
  };

  void AddRoute(std::string method, std::string pattern, Method handler, bool control_plane);
  // The route for `request`, with the captured {name}; nullptr when none
  // matches. `allowed`: the methods of the routes on the same path; `label`:
  // the matched (else the first same-path) route's pattern, kept if none.
  const Route* Match(const common::HttpRequest& request, std::string& name,
                     std::vector<std::string>& allowed, std::string& label) const;

  void Register(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void Upsert(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void List(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void Describe(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void Delete(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void Invoke(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void GetFunctionPolicy(common::HttpRequest request, std::string name,
                         common::HttpResponder respond);
  void PutFunctionPolicy(common::HttpRequest request, std::string name,
                         common::HttpResponder respond);
  void DeleteFunctionPolicy(common::HttpRequest request, std::string name,
                            common::HttpResponder respond);
  void ModelMetadata(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void ModelReady(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void GetPolicy(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void PutPolicy(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void SchedulerState(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void Metrics(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void Healthz(common::HttpRequest request, std::string name, common::HttpResponder respond);
  void Readyz(common::HttpRequest request, std::string name, common::HttpResponder respond);

  // Registration and replacement (`path_name` "": POST).
  void Store(const common::HttpRequest& request, const std::string& path_name, bool replace,
             common::HttpResponder respond);
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
  common::ThreadPool control_pool_;  // last: drained first
};

}  // namespace stoa::gateway
