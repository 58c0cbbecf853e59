// The REST API of the gateway (DESIGN.md § REST API) as an HttpHandler, so
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
//   GET    /v2/health/ready|live, /healthz, /readyz
//   GET|PUT /v1/policy                    placement policy (persisted, applied)
//   GET    /v1/scheduler/state            the scheduler's view (per function ×
//                                         tier: prediction per term, errors,
//                                         decisions by reason; circuits)
//   GET    /metrics                       Prometheus text format 0.0.4
// Invocation responses carry X-Stoa-Tier, X-Stoa-Reason (predicted-best,
// explore, hedge, failover, forced, policy), X-Stoa-Predicted-Ms,
// X-Stoa-Latency-Ms, X-Stoa-Cold-Start.
// On construction, the per-function policy overrides persisted in the
// registry are handed to the scheduler (an unreadable one is logged and
// skipped).
//
// Errors: the JSON body of common::ErrorJson with common::ToHttpStatus's
// code; an unknown path is 404, a known path with another method 405 (with
// Allow). A request is validated completely before anything is stored, so a
// bad request changes nothing.
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

#include "common/metrics.h"
#include "common/thread_pool.h"
#include "functions/function_runtime.h"
#include "gateway/dispatcher.h"
#include "gateway/function_registry.h"
#include "gateway/http_types.h"
#include "scheduler/policy_store.h"
#include "scheduler/scheduler.h"

namespace stoa::gateway {

class RestApi final : public HttpHandler {
 public:
  struct Options {
    size_t control_threads = 2;
  };

  RestApi(FunctionRegistry& registry, Dispatcher& dispatcher, scheduler::Scheduler& scheduler,
          scheduler::PolicyStore& policies, const functions::RuntimeSet& runtimes,
          common::metrics::Registry& metrics, Options options);
  ~RestApi() override;
  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;

  void Handle(HttpRequest request, HttpResponder respond) override;

 private:
  using Method = void (RestApi::*)(HttpRequest request, std::string name, HttpResponder respond);
  struct Route {
    std::string method;
    std::string pattern;  // "/v1/functions/{name}/invoke"
    std::vector<std::string> segments;
    Method handler;
    bool control_plane;  // runs on the control pool
  };

  void AddRoute(std::string method, std::string pattern, Method handler, bool control_plane);

  void Register(HttpRequest request, std::string name, HttpResponder respond);
  void Upsert(HttpRequest request, std::string name, HttpResponder respond);
  void List(HttpRequest request, std::string name, HttpResponder respond);
  void Describe(HttpRequest request, std::string name, HttpResponder respond);
  void Delete(HttpRequest request, std::string name, HttpResponder respond);
  void Invoke(HttpRequest request, std::string name, HttpResponder respond);
  void GetFunctionPolicy(HttpRequest request, std::string name, HttpResponder respond);
  void PutFunctionPolicy(HttpRequest request, std::string name, HttpResponder respond);
  void DeleteFunctionPolicy(HttpRequest request, std::string name, HttpResponder respond);
  void ModelMetadata(HttpRequest request, std::string name, HttpResponder respond);
  void ModelReady(HttpRequest request, std::string name, HttpResponder respond);
  void GetPolicy(HttpRequest request, std::string name, HttpResponder respond);
  void PutPolicy(HttpRequest request, std::string name, HttpResponder respond);
  void SchedulerState(HttpRequest request, std::string name, HttpResponder respond);
  void Metrics(HttpRequest request, std::string name, HttpResponder respond);
  void Healthz(HttpRequest request, std::string name, HttpResponder respond);
  void Readyz(HttpRequest request, std::string name, HttpResponder respond);

  // Registration and replacement: validates everything, then stores.
  void Store(const HttpRequest& request, const std::string& path_name, bool replace,
             HttpResponder respond);
  bool Ready() const;

  FunctionRegistry& registry_;
  Dispatcher& dispatcher_;
  scheduler::Scheduler& scheduler_;
  scheduler::PolicyStore& policies_;
  const functions::RuntimeSet& runtimes_;
  common::metrics::Registry& metrics_;
  common::metrics::Family<common::metrics::Counter>& http_requests_;
  std::vector<Route> routes_;
  // Serializes registrations so that check-then-store is atomic per name.
  absl::Mutex store_mu_;
  common::ThreadPool control_pool_;  // last: drained first
};

}  // namespace stoa::gateway
