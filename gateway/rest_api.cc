#include "gateway/rest_api.h"

#include <cstdio>

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
#include "gateway/kserve_codec.h"
#include "gateway/kserve_response.h"
#include "gateway/multipart.h"
#include "gateway/scheduler_state_json.h"
#include "gateway/spec_json.h"
#include "nlohmann/json.hpp"
#include "scheduler/policy_config.h"
#include "spdlog/spdlog.h"

using stoa::common::HttpRequest;
using stoa::common::HttpResponder;
using stoa::common::HttpResponse;

namespace stoa::gateway {
namespace {

using nlohmann::json;

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse Error(const absl::Status& status) {
  HttpResponse r = Json(common::ToHttpStatus(status.code()), common::ErrorJson(status));
  // Admission refusals (429, 503) say when to come back.
  if (auto seconds = common::RetryAfterSeconds(status)) {
    r.headers.emplace_back("Retry-After", std::to_string(*seconds));
  }
  return r;
}

HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  r.content_type = "";
  return r;
}

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", ms);
  return buf;
}

std::vector<std::string> Segments(const std::string& path) {
  return absl::StrSplit(path, '/', absl::SkipEmpty());
}

// The media type of a Content-Type value, lower-case, without parameters.
std::string MediaType(const std::string& content_type) {
  std::string media = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(media));
}

absl::StatusOr<Registration> ParseRegistration(const HttpRequest& request,
                                               const common::RequestLimits& limits) {
  std::string content_type = request.Header("content-type");
  std::string media = MediaType(content_type);
  Registration reg;
  if (media == "multipart/form-data") {
    auto parts = ParseMultipart(content_type, request.body, limits.max_multipart_parts);
    if (!parts.ok()) return parts.status();
    const MultipartPart* spec = FindPart(*parts, "spec");
    const MultipartPart* artifact = FindPart(*parts, "artifact");
    if (spec == nullptr) return absl::InvalidArgumentError("multipart body has no 'spec' part");
    if (artifact == nullptr) {
      return absl::InvalidArgumentError("multipart body has no 'artifact' part");
    }
    auto parsed = ParseFunctionSpec(spec->body, nullptr, limits);
    if (!parsed.ok()) return parsed.status();
    reg.spec = *std::move(parsed);
    reg.artifact = artifact->body;
  } else if (media == "application/json") {
    std::optional<std::string> base64;
    auto parsed = ParseFunctionSpec(request.body, &base64, limits);
    if (!parsed.ok()) return parsed.status();
    if (!base64) {
      return absl::InvalidArgumentError(
          "JSON registration is missing 'artifact_base64' (the artifact, base64-encoded)");
    }
    if (!absl::Base64Unescape(*base64, &reg.artifact)) {
      return absl::InvalidArgumentError("'artifact_base64' is not valid base64");
    }
    reg.spec = *std::move(parsed);
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "Content-Type '", content_type,
        "' is not supported: use multipart/form-data with parts 'spec' and 'artifact', or "
        "application/json with 'artifact_base64'"));
  }
  if (reg.artifact.empty()) return absl::InvalidArgumentError("the artifact is empty");
  RETURN_IF_ERROR(common::CheckArtifactSize(reg.artifact.size(), limits.max_artifact_bytes));
  return reg;
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
      control_pool_(std::max<size_t>(1, options.control_threads)) {
  AddRoute("POST", "/v1/functions", &RestApi::Register, true);
  AddRoute("GET", "/v1/functions", &RestApi::List, false);
  AddRoute("GET", "/v1/functions/{name}", &RestApi::Describe, false);
  AddRoute("PUT", "/v1/functions/{name}", &RestApi::Upsert, true);
  AddRoute("DELETE", "/v1/functions/{name}", &RestApi::Delete, true);
  AddRoute("POST", "/v1/functions/{name}/invoke", &RestApi::Invoke, false);
  AddRoute("GET", "/v1/functions/{name}/policy", &RestApi::GetFunctionPolicy, false);
  AddRoute("PUT", "/v1/functions/{name}/policy", &RestApi::PutFunctionPolicy, true);
  AddRoute("DELETE", "/v1/functions/{name}/policy", &RestApi::DeleteFunctionPolicy, true);
  AddRoute("POST", "/v2/models/{name}/infer", &RestApi::Invoke, false);
  AddRoute("GET", "/v2/models/{name}", &RestApi::ModelMetadata, false);
  AddRoute("GET", "/v2/models/{name}/ready", &RestApi::ModelReady, false);
  AddRoute("GET", "/v2/health/ready", &RestApi::Readyz, false);
  AddRoute("GET", "/v2/health/live", &RestApi::Healthz, false);
  AddRoute("GET", "/v1/policy", &RestApi::GetPolicy, false);
  AddRoute("PUT", "/v1/policy", &RestApi::PutPolicy, true);
  AddRoute("GET", "/v1/scheduler/state", &RestApi::SchedulerState, false);
  AddRoute("GET", "/metrics", &RestApi::Metrics, false);
  AddRoute("GET", "/healthz", &RestApi::Healthz, false);
  AddRoute("GET", "/readyz", &RestApi::Readyz, false);
}

RestApi::~RestApi() = default;

void RestApi::AddRoute(std::string method, std::string pattern, Method handler,
                       bool control_plane) {
  Route route{std::move(method), pattern, Segments(pattern), handler, control_plane};
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
  Method handler = match->handler;
  auto run = [this, handler, request = std::move(request), name = std::move(name),
              counted]() mutable {
    try {
      (this->*handler)(std::move(request), std::move(name), counted);
    } catch (...) {
      // The responder drops a second answer if the handler had answered.
      counted(Error(common::InternalFromException("internal error")));
    }
  };
  if (match->control_plane) {
    control_pool_.Schedule(std::move(run));
  } else {
    run();
  }
}

void RestApi::Register(HttpRequest request, std::string, HttpResponder respond) {
  Store(request, "", false, std::move(respond));
}

void RestApi::Upsert(HttpRequest request, std::string name, HttpResponder respond) {
  Store(request, name, true, std::move(respond));
}

void RestApi::Store(const HttpRequest& request, const std::string& path_name, bool replace,
                    HttpResponder respond) {
  auto reg = ParseRegistration(request, limits_);
  if (!reg.ok()) return respond(Error(reg.status()));
  if (!path_name.empty() && reg->spec.name() != path_name) {
    return respond(Error(absl::InvalidArgumentError(absl::StrCat(
        "spec name '", reg->spec.name(), "' does not match the path's '", path_name, "'"))));
  }
  auto stored = control_.Register(*std::move(reg), replace);
  if (!stored.ok()) return respond(Error(stored.status()));
  HttpResponse r =
      Json(stored->created ? 201 : 200, common::DumpJson(FunctionSpecToJson(stored->spec)));
  r.headers.emplace_back("Location", absl::StrCat("/v1/functions/", stored->spec.name()));
  respond(std::move(r));
}

void RestApi::List(HttpRequest, std::string, HttpResponder respond) {
  json functions = json::array();
  for (const auto& spec : control_.List()) functions.push_back(FunctionSpecToJson(spec));
  respond(Json(200, common::DumpJson(json{{"functions", functions}})));
}

void RestApi::Describe(HttpRequest, std::string name, HttpResponder respond) {
  auto fn = control_.Get(name);
  if (!fn.ok()) return respond(Error(fn.status()));
  json out = FunctionSpecToJson(fn->spec);
  FunctionStats stats = invoker_.Stats(name, fn->spec.sha256());
  json tiers = json::object();
  for (scheduler::Tier t : scheduler::kAllTiers) {
    tiers[std::string(scheduler::TierName(t))] = StatsJson(stats[scheduler::TierIndex(t)]);
  }
  out["stats"] = tiers;
  respond(Json(200, common::DumpJson(out)));
}

void RestApi::Delete(HttpRequest, std::string name, HttpResponder respond) {
  if (auto s = control_.Delete(name); !s.ok()) return respond(Error(s));
  respond(NoContent());
}

void RestApi::Invoke(HttpRequest request, std::string name, HttpResponder respond) {
  auto fn = control_.Get(name);
  if (!fn.ok()) return respond(Error(fn.status()));
  std::optional<scheduler::Tier> forced;
  if (std::string tier = request.Query("tier"); !tier.empty()) {
    forced = scheduler::ParseTier(tier);
    if (!forced) {
      return respond(Error(absl::InvalidArgumentError(
          absl::StrCat("query parameter 'tier' must be edge or cloud, got '", tier, "'"))));
    }
  }
  v1::InvokeRequest invoke;
  auto infer = std::make_shared<InferRequest>();
  const bool tensors = fn->spec.runtime() == "onnx";
  if (tensors) {
    auto parsed = ParseInferRequest(request.body, limits_.max_json_depth);
    if (!parsed.ok()) return respond(Error(parsed.status()));
    if (auto s = CheckAgainstSignature(*parsed, fn->spec); !s.ok()) return respond(Error(s));
    for (auto& t : parsed->inputs) *invoke.add_inputs() = std::move(t);
    parsed->inputs.clear();
    *infer = *std::move(parsed);
  } else {
    invoke.set_raw(std::move(request.body));
  }
  uint64_t version = fn->spec.version();
  std::string content_type =
      fn->spec.content_type().empty() ? "application/octet-stream" : fn->spec.content_type();
  invoker_.Invoke(
      *fn, std::move(invoke), forced,
      [name, version, tensors, infer, content_type = std::move(content_type),
       max_output = limits_.max_output_bytes, respond](absl::StatusOr<DispatchResult> result) {
        // Runs on an executor's thread, outside Handle's catch.
        try {
          if (!result.ok()) return respond(Error(result.status()));
          HttpResponse r;
          if (tensors) {
            auto body = RenderInferResponse(name, version, infer->id, result->response.outputs(),
                                            infer->requested_outputs, max_output);
            if (!body.ok()) return respond(Error(body.status()));
            r.body = *std::move(body);
          } else {
            // wasm: the spec's, raw bytes as the function wrote them
            r.content_type = content_type;
            r.body = std::move(*result->response.mutable_raw());
          }
          r.headers = {
              {"X-Stoa-Tier", std::string(scheduler::TierName(result->tier))},
              {"X-Stoa-Reason", std::string(scheduler::ReasonName(result->reason))},
              {"X-Stoa-Predicted-Ms", Ms(result->predicted_ms)},
              {"X-Stoa-Latency-Ms", Ms(result->latency_ms)},
              {"X-Stoa-Cold-Start", result->cold_start ? "true" : "false"},
          };
          respond(std::move(r));
        } catch (...) {
          respond(Error(common::InternalFromException("rendering the invocation's answer")));
        }
      },
      request.cancel);
}

void RestApi::GetFunctionPolicy(HttpRequest, std::string name, HttpResponder respond) {
  auto effective = control_.GetFunctionPolicy(name);
  if (!effective.ok()) return respond(Error(effective.status()));
  HttpResponse r = Json(200, scheduler::PolicyToJson(effective->policy));
  r.headers.emplace_back("X-Stoa-Policy-Source", effective->own ? "function" : "global");
  respond(std::move(r));
}

void RestApi::PutFunctionPolicy(HttpRequest request, std::string name, HttpResponder respond) {
  if (auto s = common::CheckJsonDepth(request.body, limits_.max_json_depth, "the policy");
      !s.ok()) {
    return respond(Error(s));
  }
  auto policy = scheduler::ParsePolicyJson(request.body);
  if (!policy.ok()) return respond(Error(policy.status()));
  if (auto s = control_.SetFunctionPolicy(name, *policy); !s.ok()) return respond(Error(s));
  HttpResponse r = Json(200, scheduler::PolicyToJson(*policy));
  r.headers.emplace_back("X-Stoa-Policy-Source", "function");
  respond(std::move(r));
}

void RestApi::DeleteFunctionPolicy(HttpRequest, std::string name, HttpResponder respond) {
  if (auto s = control_.ClearFunctionPolicy(name); !s.ok()) return respond(Error(s));
  respond(NoContent());
}

void RestApi::ModelMetadata(HttpRequest, std::string name, HttpResponder respond) {
  auto fn = control_.Get(name);
  if (!fn.ok()) return respond(Error(fn.status()));
  json out = {{"name", name},
              {"versions", json::array({std::to_string(fn->spec.version())})},
              {"platform", fn->spec.runtime()},
              {"inputs", SignatureToJson(fn->spec.inputs())},
              {"outputs", SignatureToJson(fn->spec.outputs())}};
  respond(Json(200, common::DumpJson(out)));
}

void RestApi::ModelReady(HttpRequest, std::string name, HttpResponder respond) {
  auto fn = control_.Get(name);
  if (!fn.ok()) return respond(Error(fn.status()));
  bool ready = Ready();
  respond(Json(ready ? 200 : 503, common::DumpJson(json{{"name", name}, {"ready", ready}})));
}

void RestApi::GetPolicy(HttpRequest, std::string, HttpResponder respond) {
  respond(Json(200, scheduler::PolicyToJson(control_.GetPolicy())));
}

void RestApi::PutPolicy(HttpRequest request, std::string, HttpResponder respond) {
  // Like the invoke routes, the body is JSON whatever the Content-Type says
  // (curl -d sends application/x-www-form-urlencoded).
  if (auto s = common::CheckJsonDepth(request.body, limits_.max_json_depth, "the policy");
      !s.ok()) {
    return respond(Error(s));
  }
  auto policy = scheduler::ParsePolicyJson(request.body);
  if (!policy.ok()) return respond(Error(policy.status()));
  if (auto s = control_.SetPolicy(*policy); !s.ok()) return respond(Error(s));
  respond(Json(200, scheduler::PolicyToJson(*policy)));
}

void RestApi::SchedulerState(HttpRequest, std::string, HttpResponder respond) {
  respond(Json(200, SchedulerStateJson(scheduler_.Snapshot())));
}

void RestApi::Metrics(HttpRequest, std::string, HttpResponder respond) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_.Serialize();
  respond(std::move(r));
}

void RestApi::Healthz(HttpRequest, std::string, HttpResponder respond) {
  respond(Json(200, R"({"status":"ok"})"));
}

bool RestApi::Ready() const { return ReadyStatus().empty(); }

std::string RestApi::ReadyStatus() const {
  const scheduler::TierSet configured = invoker_.configured_tiers();
  if (configured.Empty()) return "no executor tier configured";
  std::string saturated;
  for (scheduler::Tier t : scheduler::kAllTiers) {
    if (!configured.Contains(t)) continue;
    const TierHealth h = invoker_.Health(t);
    if (!h.saturated) return "";
    absl::StrAppend(&saturated, saturated.empty() ? "" : "; ", "tier '",
                    std::string(scheduler::TierName(t)), "': ", h.queued, " queued, limit ",
                    h.queue_limit);
  }
  return absl::StrCat("every tier is saturated (admission control): ", saturated);
}

void RestApi::Readyz(HttpRequest, std::string, HttpResponder respond) {
  json tiers = json::object();
  json saturated = json::array();
  for (scheduler::Tier t : scheduler::kAllTiers) {
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
  respond(std::move(r));
}

}  // namespace stoa::gateway
