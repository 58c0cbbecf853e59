#include "gateway/rest_api.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/http_status.h"
#include "gateway/kserve_codec.h"
#include "gateway/multipart.h"
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
  return Json(common::ToHttpStatus(status.code()), common::ErrorJson(status));
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

struct Registration {
  v1::FunctionSpec spec;
  std::string artifact;
};

absl::StatusOr<Registration> ParseRegistration(const HttpRequest& request) {
  std::string content_type = request.Header("content-type");
  std::string media = MediaType(content_type);
  Registration reg;
  if (media == "multipart/form-data") {
    auto parts = ParseMultipart(content_type, request.body);
    if (!parts.ok()) return parts.status();
    const MultipartPart* spec = FindPart(*parts, "spec");
    const MultipartPart* artifact = FindPart(*parts, "artifact");
    if (spec == nullptr) return absl::InvalidArgumentError("multipart body has no 'spec' part");
    if (artifact == nullptr) {
      return absl::InvalidArgumentError("multipart body has no 'artifact' part");
    }
    auto parsed = ParseFunctionSpec(spec->body);
    if (!parsed.ok()) return parsed.status();
    reg.spec = *std::move(parsed);
    reg.artifact = artifact->body;
  } else if (media == "application/json") {
    std::optional<std::string> base64;
    auto parsed = ParseFunctionSpec(request.body, &base64);
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
  return reg;
}

json StatsJson(const TierStats& s) {
  return {{"configured", s.configured},   {"loaded", s.loaded},
          {"invocations", s.invocations}, {"failures", s.failures},
          {"cold_starts", s.cold_starts}, {"mean_latency_ms", s.mean_latency_ms}};
}

}  // namespace

RestApi::RestApi(FunctionRegistry& registry, Dispatcher& dispatcher,
                 scheduler::Scheduler& scheduler, const functions::RuntimeSet& runtimes,
                 common::metrics::Registry& metrics, Options options)
    : registry_(registry),
      dispatcher_(dispatcher),
      scheduler_(scheduler),
      runtimes_(runtimes),
      metrics_(metrics),
      http_requests_(metrics.AddCounter("stoa_http_requests_total",
                                        "HTTP requests by route template and status code.")),
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
  for (const v1::FunctionSpec& spec : registry_.List()) {
    std::optional<std::string> saved = registry_.LoadFunctionPolicy(spec.name());
    if (!saved) continue;
    auto policy = scheduler::ParsePolicyJson(*saved);
    if (!policy.ok()) {
      spdlog::error("ignoring the saved policy of '{}': {}", spec.name(),
                    std::string(policy.status().message()));
      continue;
    }
    scheduler_.SetFunctionPolicy(spec.name(), *policy);
  }
}

RestApi::~RestApi() = default;

void RestApi::AddRoute(std::string method, std::string pattern, Method handler,
                       bool control_plane) {
  Route route{std::move(method), pattern, Segments(pattern), handler, control_plane};
  routes_.push_back(std::move(route));
}

void RestApi::Handle(HttpRequest request, HttpResponder respond) {
  std::vector<std::string> segments = Segments(request.path);
  const Route* match = nullptr;
  const Route* path_match = nullptr;  // same path, any method
  std::string name;
  std::vector<std::string> allowed;
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
    if (path_match == nullptr) path_match = &route;
    allowed.push_back(route.method);
    if (route.method == request.method) {
      match = &route;
      name = std::move(captured);
      break;
    }
  }
  std::string route_label = match ? match->pattern : path_match ? path_match->pattern : "unmatched";
  HttpResponder counted = [this, route_label, respond = std::move(respond)](HttpResponse r) {
    http_requests_.Add({{"route", route_label}, {"code", std::to_string(r.status)}}).Increment();
    respond(std::move(r));
  };

  if (!match) {
    if (allowed.empty()) {
      counted(Error(
          absl::NotFoundError(absl::StrCat("no route for ", request.method, " ", request.path))));
      return;
    }
    HttpResponse r;
    r.status = 405;
    r.body = json{{"error",
                   {{"code", "METHOD_NOT_ALLOWED"},
                    {"message", absl::StrCat(request.method, " is not allowed on ", request.path,
                                             " (allowed: ", absl::StrJoin(allowed, ", "), ")")}}}}
                 .dump();
    r.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    counted(std::move(r));
    return;
  }

  Method handler = match->handler;
  auto run = [this, handler, request = std::move(request), name = std::move(name),
              counted]() mutable {
    try {
      (this->*handler)(std::move(request), std::move(name), counted);
    } catch (const std::exception& e) {
      spdlog::error("handler threw: {}", e.what());
      counted(Error(absl::InternalError(absl::StrCat("internal error: ", e.what()))));
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
  auto reg = ParseRegistration(request);
  if (!reg.ok()) return respond(Error(reg.status()));
  if (!path_name.empty() && reg->spec.name() != path_name) {
    return respond(Error(absl::InvalidArgumentError(absl::StrCat(
        "spec name '", reg->spec.name(), "' does not match the path's '", path_name, "'"))));
  }
  const std::string& name = reg->spec.name();
  absl::MutexLock lock(&store_mu_);
  auto previous = registry_.Get(name);
  if (previous.ok() && !replace) {
    return respond(Error(absl::AlreadyExistsError(
        absl::StrCat("function '", name, "' already exists (version ", previous->spec.version(),
                     "); PUT /v1/functions/", name, " replaces it"))));
  }
  // Validating the artifact also derives the signature.
  auto loaded = runtimes_.Load(reg->spec, reg->artifact);
  if (!loaded.ok()) {
    return respond(Error(
        absl::Status(loaded.status().code(),
                     absl::StrCat("artifact rejected: ", std::string(loaded.status().message())))));
  }
  const v1::FunctionSpec& derived = (*loaded)->spec();
  *reg->spec.mutable_inputs() = derived.inputs();
  *reg->spec.mutable_outputs() = derived.outputs();
  auto stored = registry_.Put(reg->spec, std::move(reg->artifact), replace);
  if (!stored.ok()) return respond(Error(stored.status()));
  if (previous.ok()) dispatcher_.Forget(name, previous->spec.sha256());
  spdlog::info("function '{}' version {} stored (sha256 {})", name, stored->version(),
               stored->sha256());
  HttpResponse r = Json(previous.ok() ? 200 : 201, FunctionSpecToJson(*stored).dump());
  r.headers.emplace_back("Location", absl::StrCat("/v1/functions/", name));
  respond(std::move(r));
}

void RestApi::List(HttpRequest, std::string, HttpResponder respond) {
  json functions = json::array();
  for (const auto& spec : registry_.List()) functions.push_back(FunctionSpecToJson(spec));
  respond(Json(200, json{{"functions", functions}}.dump()));
}

void RestApi::Describe(HttpRequest, std::string name, HttpResponder respond) {
  auto fn = registry_.Get(name);
  if (!fn.ok()) return respond(Error(fn.status()));
  json out = FunctionSpecToJson(fn->spec);
  auto stats = dispatcher_.Stats(name, fn->spec.sha256());
  json tiers = json::object();
  for (scheduler::Tier t : scheduler::kAllTiers) {
    tiers[std::string(scheduler::TierName(t))] = StatsJson(stats[scheduler::TierIndex(t)]);
  }
  out["stats"] = tiers;
  respond(Json(200, out.dump()));
}

void RestApi::Delete(HttpRequest, std::string name, HttpResponder respond) {
  absl::MutexLock lock(&store_mu_);
  if (auto s = registry_.Delete(name); !s.ok()) return respond(Error(s));
  dispatcher_.Forget(name, "");
  scheduler_.ClearFunctionPolicy(name);
  spdlog::info("function '{}' deleted", name);
  HttpResponse r;
  r.status = 204;
  r.content_type = "";
  respond(std::move(r));
}

void RestApi::Invoke(HttpRequest request, std::string name, HttpResponder respond) {
  auto fn = registry_.Get(name);
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
    auto parsed = ParseInferRequest(request.body);
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
  dispatcher_.Invoke(
      *fn, std::move(invoke), forced,
      [name, version, tensors, infer, content_type = std::move(content_type),
       respond](absl::StatusOr<DispatchResult> result) {
        if (!result.ok()) return respond(Error(result.status()));
        HttpResponse r;
        if (tensors) {
          auto body = RenderInferResponse(name, version, infer->id, result->response.outputs(),
                                          infer->requested_outputs);
          if (!body.ok()) return respond(Error(body.status()));
          r.body = *std::move(body);
        } else {
          r.content_type = content_type;  // wasm: the spec's, raw bytes as the function wrote them
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
      });
}

void RestApi::GetFunctionPolicy(HttpRequest, std::string name, HttpResponder respond) {
  auto fn = registry_.Get(name);
  if (!fn.ok()) return respond(Error(fn.status()));
  std::optional<scheduler::PolicyConfig> own = scheduler_.GetFunctionPolicy(name);
  HttpResponse r = Json(200, scheduler::PolicyToJson(own ? *own : scheduler_.GetPolicy()));
  r.headers.emplace_back("X-Stoa-Policy-Source", own ? "function" : "global");
  respond(std::move(r));
}

void RestApi::PutFunctionPolicy(HttpRequest request, std::string name, HttpResponder respond) {
  auto policy = scheduler::ParsePolicyJson(request.body);
  if (!policy.ok()) return respond(Error(policy.status()));
  std::string normalized = scheduler::PolicyToJson(*policy);
  absl::MutexLock lock(&store_mu_);
  if (auto s = registry_.SaveFunctionPolicy(name, normalized); !s.ok()) return respond(Error(s));
  scheduler_.SetFunctionPolicy(name, *policy);
  spdlog::info("placement policy of '{}' set: {}", name, normalized);
  HttpResponse r = Json(200, normalized);
  r.headers.emplace_back("X-Stoa-Policy-Source", "function");
  respond(std::move(r));
}

void RestApi::DeleteFunctionPolicy(HttpRequest, std::string name, HttpResponder respond) {
  absl::MutexLock lock(&store_mu_);
  if (auto s = registry_.DeleteFunctionPolicy(name); !s.ok()) return respond(Error(s));
  scheduler_.ClearFunctionPolicy(name);
  spdlog::info("placement policy override of '{}' removed", name);
  HttpResponse r;
  r.status = 204;
  r.content_type = "";
  respond(std::move(r));
}

void RestApi::ModelMetadata(HttpRequest, std::string name, HttpResponder respond) {
  auto fn = registry_.Get(name);
  if (!fn.ok()) return respond(Error(fn.status()));
  json out = {{"name", name},
              {"versions", json::array({std::to_string(fn->spec.version())})},
              {"platform", fn->spec.runtime()},
              {"inputs", SignatureToJson(fn->spec.inputs())},
              {"outputs", SignatureToJson(fn->spec.outputs())}};
  respond(Json(200, out.dump()));
}

void RestApi::ModelReady(HttpRequest, std::string name, HttpResponder respond) {
  auto fn = registry_.Get(name);
  if (!fn.ok()) return respond(Error(fn.status()));
  bool ready = Ready();
  respond(Json(ready ? 200 : 503, json{{"name", name}, {"ready", ready}}.dump()));
}

void RestApi::GetPolicy(HttpRequest, std::string, HttpResponder respond) {
  respond(Json(200, scheduler::PolicyToJson(scheduler_.GetPolicy())));
}

void RestApi::PutPolicy(HttpRequest request, std::string, HttpResponder respond) {
  // Like the invoke routes, the body is JSON whatever the Content-Type says
  // (curl -d sends application/x-www-form-urlencoded).
  auto policy = scheduler::ParsePolicyJson(request.body);
  if (!policy.ok()) return respond(Error(policy.status()));
  std::string normalized = scheduler::PolicyToJson(*policy);
  if (auto s = registry_.SavePolicy(normalized); !s.ok()) return respond(Error(s));
  scheduler_.SetPolicy(*policy);
  spdlog::info("placement policy set: {}", normalized);
  respond(Json(200, normalized));
}

void RestApi::SchedulerState(HttpRequest, std::string, HttpResponder respond) {
  respond(Json(200, scheduler_.StateJson()));
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

bool RestApi::Ready() const { return !dispatcher_.configured_tiers().Empty(); }

void RestApi::Readyz(HttpRequest, std::string, HttpResponder respond) {
  json tiers = json::object();
  for (scheduler::Tier t : scheduler::kAllTiers) {
    std::string d = dispatcher_.DescribeTier(t);
    tiers[std::string(scheduler::TierName(t))] = d.empty() ? json(nullptr) : json(d);
  }
  bool ready = Ready();
  respond(Json(
      ready ? 200 : 503,
      json{{"status", ready ? "ready" : "no executor tier configured"}, {"tiers", tiers}}.dump()));
}

}  // namespace stoa::gateway
