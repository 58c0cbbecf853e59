#include "gateway/rest_api.h"

#include <cstdio>
#include <filesystem>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/guarded.h"
#include "common/http_status.h"
#include "common/json_text.h"
#include "common/overload.h"
#include "common/status_macros.h"
#include "gateway/events/queued_work.h"
#include "gateway/kserve_binary.h"
#include "gateway/kserve_codec.h"
#include "gateway/kserve_response.h"
#include "gateway/multipart.h"
#include "gateway/pipeline_spec.h"
#include "gateway/rest_responses.h"
#include "gateway/scheduler_state_json.h"
#include "gateway/spec_json.h"
#include "gateway/split_json.h"
#include "gateway/target_spec.h"
#include "nlohmann/json.hpp"
#include "scheduler/policy_config.h"
#include "spdlog/spdlog.h"

using stoa::common::HttpRequest;
using stoa::common::HttpResponder;
using stoa::common::HttpResponse;

namespace stoa::gateway {
namespace {

using nlohmann::json;

using rest::Error;
using rest::Json;
using rest::NoContent;

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", ms);
  return buf;
}

std::vector<std::string> Segments(const std::string& path) {
  return absl::StrSplit(path, '/', absl::SkipEmpty());
}

json StatsJson(const TierStats& s) {
  return {{"configured", s.configured},   {"loaded", s.loaded},
          {"invocations", s.invocations}, {"failures", s.failures},
          {"cold_starts", s.cold_starts}, {"mean_latency_ms", s.mean_latency_ms}};
}

}  // namespace

RestApi::RestApi(ControlPlane& control, Invoker& invoker, const scheduler::Scheduler& scheduler,
                 common::metrics::Registry& metrics, Options options)
    : control_(control),
      invoker_(invoker),
      scheduler_(scheduler),
      metrics_(metrics),
      http_requests_(metrics.AddCounter("stoa_http_requests_total",
                                        "HTTP requests by route template and status code.")),
      limits_(options.limits),
      upload_dir_(options.upload_dir.empty() ? std::filesystem::temp_directory_path().string()
                                             : options.upload_dir),
      access_(options.access),
      audit_(options.audit),
      events_(options.events),
      split_state_(std::move(options.split_state)),
      control_pool_(std::max<size_t>(1, options.control_threads)) {
  using P = auth::Permission;
  const std::vector<P> read = {P::kFunctionsRead}, write = {P::kFunctionsWrite},
                       invoke = {P::kInvoke}, metadata = {P::kFunctionsRead, P::kInvoke},
                       policy_read = {P::kPolicyRead}, policy_write = {P::kPolicyWrite}, open = {};
  AddRoute("POST", "/v1/functions", &RestApi::Register, true, write, "function.register");
  AddRoute("GET", "/v1/functions", &RestApi::List, false, read);
  AddRoute("GET", "/v1/functions/{name}", &RestApi::Describe, false, read);
  AddRoute("PUT", "/v1/functions/{name}", &RestApi::Upsert, true, write, "function.replace");
  AddRoute("DELETE", "/v1/functions/{name}", &RestApi::Delete, true, write, "function.delete");
  AddRoute("POST", "/v1/functions/{name}/invoke", &RestApi::Invoke, false, invoke);
  AddRoute("GET", "/v1/functions/{name}/policy", &RestApi::GetFunctionPolicy, false, policy_read);
  AddRoute("PUT", "/v1/functions/{name}/policy", &RestApi::PutFunctionPolicy, true, policy_write,
           "function_policy.set");
  AddRoute("DELETE", "/v1/functions/{name}/policy", &RestApi::DeleteFunctionPolicy, true,
           policy_write, "function_policy.clear");
  AddRoute("POST", "/v2/models/{name}/infer", &RestApi::Invoke, false, invoke);
  AddRoute("GET", "/v2/models/{name}", &RestApi::ModelMetadata, false, metadata);
  AddRoute("GET", "/v2/models/{name}/ready", &RestApi::ModelReady, false, metadata);
  AddRoute("GET", "/v2/health/ready", &RestApi::Readyz, false, open);
  AddRoute("GET", "/v2/health/live", &RestApi::Healthz, false, open);
  AddRoute("GET", "/v1/policy", &RestApi::GetPolicy, false, policy_read);
  AddRoute("PUT", "/v1/policy", &RestApi::PutPolicy, true, policy_write, "policy.set");
  AddRoute("GET", "/v1/scheduler/state", &RestApi::SchedulerState, false, {P::kSchedulerRead});
  AddRoute("GET", "/v1/audit", &RestApi::Audit, false, {P::kAuditRead});
  AddRoute("GET", "/metrics", &RestApi::Metrics, false, {P::kMetricsRead});
  AddRoute("GET", "/v1/invocations", &RestApi::ListInvocations, false, metadata);
  AddRoute("GET", "/v1/invocations/{name}", &RestApi::GetInvocation, false, metadata);
  AddRoute("DELETE", "/v1/invocations/{name}", &RestApi::DeleteInvocation, false,
           {P::kInvoke, P::kFunctionsWrite});
  AddRoute("GET", "/healthz", &RestApi::Healthz, false, open);
  AddRoute("GET", "/readyz", &RestApi::Readyz, false, open);
}

RestApi::~RestApi() = default;

void RestApi::AddRoute(std::string method, std::string pattern, Method handler, bool control_plane,
                       std::vector<auth::Permission> permissions, std::string action) {
  Route route{std::move(method),      pattern,          Segments(pattern), handler, control_plane,
              std::move(permissions), std::move(action)};
  routes_.push_back(std::move(route));
}

const RestApi::Route* RestApi::Match(const HttpRequest& request, std::string& name,
                                     std::vector<std::string>& allowed, std::string& label) const {
  std::vector<std::string> segments = Segments(request.path);
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::string captured;
    bool ok = true;
    for (size_t i = 0; ok && i < segments.size(); ++i) {
      if (route.segments[i] == "{name}") {
        captured = segments[i];
      } else {
        ok = route.segments[i] == segments[i];
      }
    }
    if (!ok) continue;
    if (allowed.empty()) label = route.pattern;
    allowed.push_back(route.method);
    // HEAD is GET without the body (the server drops it, keeping the length).
    if (route.method == request.method || (request.method == "HEAD" && route.method == "GET")) {
      name = std::move(captured);
      label = route.pattern;
      return &route;
    }
  }
  return nullptr;
}

void RestApi::Handle(HttpRequest request, HttpResponder respond) {
  std::string name;
  std::vector<std::string> allowed;
  std::string route_label = "unmatched";
  const Route* match = Match(request, name, allowed, route_label);
  HttpResponder counted = [this, route_label, respond = std::move(respond)](HttpResponse r) {
    http_requests_.Add({{"route", route_label}, {"code", std::to_string(r.status)}})->Increment();
    respond(std::move(r));
  };
  if (!match) {
    if (allowed.empty()) {
      return counted(Error(
          absl::NotFoundError(absl::StrCat("no route for ", common::EchoLimited(request.method),
                                           " ", common::EchoLimited(request.path)))));
    }
    HttpResponse r = Json(
        405, common::ErrorJson("METHOD_NOT_ALLOWED",
                               absl::StrCat(request.method, " is not allowed on ", request.path,
                                            " (allowed: ", absl::StrJoin(allowed, ", "), ")")));
    r.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    return counted(std::move(r));
  }
  absl::StatusOr<Caller> caller = Admit(request, *match, name);
  if (!caller.ok()) return counted(Error(caller.status()));
  Method handler = match->handler;
  auto run =
      [this, handler,
       call = Call{std::move(request), std::move(name), *std::move(caller), counted}]() mutable {
        HttpResponder respond = call.respond;
        try {
          (this->*handler)(std::move(call));
        } catch (...) {
          // The responder drops a second answer if the handler had answered.
          respond(Error(common::InternalFromException("internal error")));
        }
      };
  if (match->control_plane) {
    control_pool_.Schedule(std::move(run));
  } else {
    run();
  }
}

absl::StatusOr<Caller> RestApi::Admit(const HttpRequest& request, const Route& route,
                                      const std::string& name) const {
  if (access_ == nullptr) {
    Caller open;
    open.client = request.client;
    return open;
  }
  absl::StatusOr<Caller> caller = access_->Authenticate(request, route.permissions);
  if (!caller.ok()) return caller.status();
  const std::string what = absl::StrCat(route.method, " ", route.pattern);
  absl::Status allowed = AccessControl::Authorize(*caller, route.permissions, what);
  if (allowed.ok()) return caller;
  if (!route.action.empty()) {
    // A refused change is audited, with who tried it.
    Call refused{request, name, *caller, nullptr};
    Record(refused, route.action, "", allowed, 403, nlohmann::json::object());
  }
  return allowed;
}

absl::StatusOr<StoredFunction> RestApi::Visible(const Call& call) const {
  auto fn = control_.Get(call.name);
  if (!fn.ok()) return fn.status();
  if (absl::Status s = AccessControl::CheckTenant(call.caller, fn->spec); !s.ok()) return s;
  return fn;
}

void RestApi::List(Call call) {
  json functions = json::array();
  for (const auto& spec : control_.List()) {
    if (AccessControl::Sees(call.caller, spec)) functions.push_back(FunctionSpecToJson(spec));
  }
  call.respond(Json(200, common::DumpJson(json{{"functions", functions}})));
}

void RestApi::Describe(Call call) {
  auto fn = Visible(call);
  if (!fn.ok()) return call.respond(Error(fn.status()));
  json out = FunctionSpecToJson(fn->spec);
  FunctionStats stats = invoker_.Stats(call.name, fn->spec.sha256());
  json tiers = json::object();
  for (scheduler::Tier t : scheduler::AllTiers()) {
    tiers[std::string(scheduler::TierName(t))] = StatsJson(stats[scheduler::TierIndex(t)]);
  }
  out["stats"] = tiers;
  call.respond(Json(200, common::DumpJson(out)));
}

void RestApi::Invoke(Call call) {
  // The name patterns first: the refusal does not say whether it exists.
  if (auto s = AccessControl::CheckInvoke(call.caller, call.name); !s.ok()) {
    return call.respond(Error(s));
  }
  auto fn = Visible(call);
  if (!fn.ok()) return call.respond(Error(fn.status()));
  if (WantsAsync(call)) return InvokeAsync(std::move(call), *fn);
  auto forced_or = ForcedTarget(call.request.Query("tier"), call.request.Query("target"));
  if (!forced_or.ok()) return call.respond(Error(forced_or.status()));
  const std::optional<scheduler::Tier> forced = *forced_or;
  v1::InvokeRequest invoke;
  auto infer = std::make_shared<InferRequest>();
  // A pipeline takes what its first stage takes, answers what its last does.
  const bool tensors = AnswersTensors(fn->spec);
  if (TakesTensors(fn->spec)) {
    auto parsed = ParseHttpInferRequest(
        call.request.body, call.request.Header(kInferenceHeaderLength), limits_.max_json_depth);
    if (!parsed.ok()) return call.respond(Error(parsed.status()));
    if (auto s = CheckAgainstSignature(*parsed, fn->spec); !s.ok()) return call.respond(Error(s));
    for (auto& t : parsed->inputs) *invoke.add_inputs() = std::move(t);
    parsed->inputs.clear();
    *infer = *std::move(parsed);
  } else {
    invoke.set_raw(std::move(call.request.body));
  }
  invoke.set_split_cut(call.request.Query("split"));  // gateway/split_invoker.h
  uint64_t version = fn->spec.version();
  std::string content_type =
      fn->spec.content_type().empty() ? "application/octet-stream" : fn->spec.content_type();
  invoker_.Invoke(
      *fn, std::move(invoke), forced,
      [name = call.name, version, tensors, infer, content_type = std::move(content_type),
       max_output = limits_.max_output_bytes,
       respond = call.respond](absl::StatusOr<DispatchResult> result) {
        // Runs on an executor's thread, outside Handle's catch.
        try {
          if (!result.ok()) return respond(Error(result.status()));
          HttpResponse r;
          if (tensors) {
            auto rendered = RenderHttpInferResponse(name, version, *infer,
                                                    result->response.outputs(), max_output);
            if (!rendered.ok()) return respond(Error(rendered.status()));
            r = *std::move(rendered);
          } else {
            // wasm: the spec's, raw bytes as the function wrote them
            r.content_type = content_type;
            r.body = std::move(*result->response.mutable_raw());
          }
          r.headers.insert(
              r.headers.end(),
              {
                  {"X-Stoa-Tier", std::string(scheduler::TierClassName(result->tier))},
                  {"X-Stoa-Target", std::string(scheduler::TierName(result->tier))},
                  {"X-Stoa-Reason", std::string(scheduler::ReasonName(result->reason))},
                  {"X-Stoa-Predicted-Ms", Ms(result->predicted_ms)},
                  {"X-Stoa-Latency-Ms", Ms(result->latency_ms)},
                  {"X-Stoa-Cold-Start", result->cold_start ? "true" : "false"},
              });
          if (!result->split.empty()) r.headers.emplace_back("X-Stoa-Split", result->split);
          for (auto& header : result->headers) r.headers.push_back(std::move(header));
          respond(std::move(r));
        } catch (...) {
          respond(Error(common::InternalFromException("rendering the invocation's answer")));
        }
      },
      call.request.cancel);
}

void RestApi::GetFunctionPolicy(Call call) {
  if (auto fn = Visible(call); !fn.ok()) return call.respond(Error(fn.status()));
  auto effective = control_.GetFunctionPolicy(call.name);
  if (!effective.ok()) return call.respond(Error(effective.status()));
  HttpResponse r = Json(200, scheduler::PolicyToJson(effective->policy));
  r.headers.emplace_back("X-Stoa-Policy-Source", effective->own ? "function" : "global");
  call.respond(std::move(r));
}

absl::StatusOr<StoredFunction> RestApi::VisibleModel(const Call& call) const {
  if (call.caller.identity && !call.caller.identity->Allows(auth::Permission::kFunctionsRead)) {
    if (auto s = AccessControl::CheckInvoke(call.caller, call.name); !s.ok()) return s;
  }
  return Visible(call);
}

void RestApi::ModelMetadata(Call call) {
  auto fn = VisibleModel(call);
  if (!fn.ok()) return call.respond(Error(fn.status()));
  json out = {{"name", call.name},
              {"versions", json::array({std::to_string(fn->spec.version())})},
              {"platform", fn->spec.runtime()},
              {"inputs", SignatureToJson(fn->spec.inputs())},
              {"outputs", SignatureToJson(fn->spec.outputs())}};
  call.respond(Json(200, common::DumpJson(out)));
}

void RestApi::ModelReady(Call call) {
  auto fn = VisibleModel(call);
  if (!fn.ok()) return call.respond(Error(fn.status()));
  bool ready = Ready();
  call.respond(
      Json(ready ? 200 : 503, common::DumpJson(json{{"name", call.name}, {"ready", ready}})));
}

void RestApi::GetPolicy(Call call) {
  call.respond(Json(200, scheduler::PolicyToJson(control_.GetPolicy())));
}

void RestApi::SchedulerState(Call call) {
  scheduler::SchedulerSnapshot snapshot = scheduler_.Snapshot();
  if (!call.caller.tenant().empty()) {
    // Only the caller's tenant's functions.
    absl::flat_hash_set<std::string> visible;
    for (const auto& spec : control_.List()) {
      if (AccessControl::Sees(call.caller, spec)) visible.insert(spec.name());
    }
    std::erase_if(snapshot.functions,
                  [&](const scheduler::FunctionSnapshot& f) { return !visible.contains(f.name); });
  }
  std::string state = events::WithQueuedAsync(SchedulerStateJson(snapshot), invoker_);
  if (split_state_) {  // the split planner's view (docs/split.md)
    std::vector<v1::FunctionSpec> specs = control_.List();
    std::erase_if(specs, [&](const auto& s) { return !AccessControl::Sees(call.caller, s); });
    state = WithSplitState(std::move(state), split_state_(specs));
  }
  call.respond(Json(200, std::move(state)));
}

void RestApi::Metrics(Call call) {
  if (auto s = AccessControl::CheckClusterWide(call.caller, "GET /metrics"); !s.ok()) {
    return call.respond(Error(s));
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_.Serialize();
  call.respond(std::move(r));
}

void RestApi::Healthz(Call call) { call.respond(Json(200, R"({"status":"ok"})")); }

bool RestApi::Ready() const { return ReadyStatus().empty(); }

std::string RestApi::ReadyStatus() const {
  if (shutting_down_.load(std::memory_order_relaxed)) return "shutting down";
  const scheduler::TierSet configured = invoker_.configured_tiers();
  if (configured.Empty()) return "no executor tier configured";
  std::string saturated;
  for (scheduler::Tier t : scheduler::AllTiers()) {
    if (!configured.Contains(t)) continue;
    const TierHealth h = invoker_.Health(t);
    if (!h.saturated) return "";
    absl::StrAppend(&saturated, saturated.empty() ? "" : "; ", "tier '",
                    std::string(scheduler::TierName(t)), "': ", h.queued, " queued, limit ",
                    h.queue_limit);
  }
  return absl::StrCat("every tier is saturated (admission control): ", saturated);
}

void RestApi::Readyz(Call call) {
  json tiers = json::object();
  json saturated = json::array();
  for (scheduler::Tier t : scheduler::AllTiers()) {
    const TierHealth h = invoker_.Health(t);
    tiers[std::string(scheduler::TierName(t))] =
        h.executor.empty() ? json(nullptr) : json(h.executor);
    if (h.saturated) saturated.push_back(std::string(scheduler::TierName(t)));
  }
  const std::string why = ReadyStatus();
  HttpResponse r = Json(
      why.empty() ? 200 : 503,
      common::DumpJson(json{
          {"status", why.empty() ? "ready" : why}, {"tiers", tiers}, {"saturated", saturated}}));
  if (!why.empty() && !invoker_.configured_tiers().Empty()) {
    r.headers.emplace_back("Retry-After", "1");
  }
  call.respond(std::move(r));
}

}  // namespace stoa::gateway
