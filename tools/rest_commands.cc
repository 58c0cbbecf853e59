#include "tools/rest_commands.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace stoa::tools {
namespace {

// The gateway's error ({"error":{"code","message"}}) as "CODE: message";
// any other body as it is.
std::string ErrorText(const std::string& body) {
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("error") || !doc["error"].is_object()) return body;
  const nlohmann::json& error = doc["error"];
  if (!error.contains("message") || !error["message"].is_string()) return body;
  const std::string code = error.value("code", "");
  return code.empty() ? error["message"].get<std::string>()
                      : absl::StrCat(code, ": ", error["message"].get<std::string>());
}

int Report(const absl::StatusOr<HttpResponse>& res, std::ostream& out, std::ostream& err) {
  if (!res.ok()) {
    err << "stoa: " << res.status().message() << "\n";
    return 1;
  }
  if (res->status < 200 || res->status >= 300) {
    err << "stoa: HTTP " << res->status << ": " << ErrorText(res->body) << "\n";
    if (res->status == 401) {
      err << "stoa: the gateway wants credentials: --token TOKEN or STOA_TOKEN (or a client "
             "certificate: --cert, --key)\n";
    }
    return 1;
  }
  out << res->body;
  if (!res->body.empty() && res->body.back() != '\n') out << "\n";
  return 0;
}

}  // namespace

std::string MultipartBody(const std::string& boundary, const std::string& spec_json,
                          const std::string& artifact) {
  return absl::StrCat(
      "--", boundary, "\r\n", "Content-Disposition: form-data; name=\"spec\"\r\n",
      "Content-Type: application/json\r\n\r\n", spec_json, "\r\n--", boundary, "\r\n",
      "Content-Disposition: form-data; name=\"artifact\"; filename=\"artifact\"\r\n",
      "Content-Type: application/octet-stream\r\n\r\n", artifact, "\r\n--", boundary, "--\r\n");
}

absl::StatusOr<std::string> InlineOrFile(const std::string& value) {
  if (value.empty() || value[0] != '@') return value;
  const std::string path = value.substr(1);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RegisterFunction(HttpConnection& conn, const std::string& spec,
                     const std::string& artifact_path, bool replace, std::ostream& out,
                     std::ostream& err) {
  auto spec_json = InlineOrFile(spec);
  auto artifact = InlineOrFile("@" + artifact_path);
  for (const auto* s : {&spec_json, &artifact}) {
    if (!s->ok()) {
      err << "stoa: " << s->status().message() << "\n";
      return 2;
    }
  }
  const std::string boundary = "stoa-cli-boundary-7d1f3a";
  const std::string body = MultipartBody(boundary, *spec_json, *artifact);
  const std::string ctype = "multipart/form-data; boundary=" + boundary;
  if (!replace) return Report(conn.Request("POST", "/v1/functions", body, ctype), out, err);
  // PUT needs the name in the path: take it from the spec.
  const size_t key = spec_json->find("\"name\"");
  const size_t q1 =
      key == std::string::npos ? key : spec_json->find('"', spec_json->find(':', key));
  const size_t q2 = q1 == std::string::npos ? q1 : spec_json->find('"', q1 + 1);
  if (q2 == std::string::npos) {
    err << "stoa: the spec has no \"name\"\n";
    return 2;
  }
  const std::string name = spec_json->substr(q1 + 1, q2 - q1 - 1);
  return Report(conn.Request("PUT", "/v1/functions/" + name, body, ctype), out, err);
}

int ListFunctions(HttpConnection& conn, std::ostream& out, std::ostream& err) {
  return Report(conn.Request("GET", "/v1/functions"), out, err);
}

int GetFunction(HttpConnection& conn, const std::string& name, std::ostream& out,
                std::ostream& err) {
  return Report(conn.Request("GET", "/v1/functions/" + name), out, err);
}

int DeleteFunction(HttpConnection& conn, const std::string& name, std::ostream& out,
                   std::ostream& err) {
  return Report(conn.Request("DELETE", "/v1/functions/" + name), out, err);
}

int Invoke(HttpConnection& conn, const std::string& name, const std::string& body,
           const std::string& tier, std::ostream& out, std::ostream& err) {
  std::string target = "/v1/functions/" + name + "/invoke";
  if (!tier.empty()) target += "?tier=" + tier;
  auto res = conn.Request("POST", target, body);
  if (res.ok()) {
    for (const char* h : {"x-stoa-tier", "x-stoa-reason", "x-stoa-predicted-ms",
                          "x-stoa-latency-ms", "x-stoa-cold-start"}) {
      if (!res->Header(h).empty()) err << h << ": " << res->Header(h) << "\n";
    }
  }
  return Report(res, out, err);
}

int GetPolicy(HttpConnection& conn, const std::string& function, std::ostream& out,
              std::ostream& err) {
  const std::string target =
      function.empty() ? "/v1/policy" : "/v1/functions/" + function + "/policy";
  return Report(conn.Request("GET", target), out, err);
}

int SetPolicy(HttpConnection& conn, const std::string& function, const std::string& json,
              std::ostream& out, std::ostream& err) {
  const std::string target =
      function.empty() ? "/v1/policy" : "/v1/functions/" + function + "/policy";
  return Report(conn.Request("PUT", target, json), out, err);
}

int GetState(HttpConnection& conn, std::ostream& out, std::ostream& err) {
  return Report(conn.Request("GET", "/v1/scheduler/state"), out, err);
}

}  // namespace stoa::tools
