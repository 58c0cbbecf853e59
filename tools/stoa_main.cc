// stoa: the command-line client of Stoa.
//
//   stoa [--gateway URL] functions register --spec JSON|@FILE --artifact FILE [--replace]
//   stoa [--gateway URL] functions list | get NAME | delete NAME
//   stoa [--gateway URL] invoke NAME [--data JSON|@FILE] [--tier edge|cloud]
//   stoa [--gateway URL] policy get [--function NAME]
//   stoa [--gateway URL] policy set JSON|@FILE [--function NAME]
//   stoa [--gateway URL] state
//   stoa model [--file YAML] [--devices N] [--rate R] ... [--json]
//   stoa replay FILE [FILE...] --policy P[,Q...] [--param KEY=VALUE...]
//   stoa tokens create --role admin|developer|operator|invoker [--tenant T]
//                      [--functions PATTERN...] [--name NAME]
//
// --gateway defaults to $STOA_GATEWAY, else http://127.0.0.1:8080; an
// https:// gateway is verified against --cacert FILE ($STOA_CACERT; default:
// the system trust store). --token TOKEN ($STOA_TOKEN) is sent as
// "Authorization: Bearer TOKEN"; --cert/--key present a client certificate.
// `tokens create` needs no gateway (tools/token_commands.h). Response
// bodies go to stdout; errors (and invoke's X-Stoa-* headers) to stderr.
// Exit codes: 0 success, 1 the gateway refused or could not be reached (or
// the model input is invalid), 2 bad flags or an unreadable file.
#include <cstdlib>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "common/json_text.h"
#include "tools/http_client.h"
#include "tools/model/continuum_model.h"
#include "tools/model/model_io.h"
#include "tools/replay_command.h"
#include "tools/rest_commands.h"
#include "tools/token_commands.h"

namespace {

struct ModelFlags {
  std::string file;
  bool json = false;
};

void AddModelFlags(CLI::App* cmd, stoa::tools::model::ModelInput& in, ModelFlags& mf) {
  cmd->add_option("--file", mf.file, "YAML input (flags given too override its keys)");
  cmd->add_flag("--json", mf.json, "print JSON instead of a table");
  cmd->add_option("--devices", in.devices, "number of devices");
  cmd->add_option("--rate", in.rate_per_s, "requests/s per device");
  cmd->add_option("--request-bytes", in.request_bytes, "request payload bytes");
  cmd->add_option("--response-bytes", in.response_bytes, "response payload bytes");
  cmd->add_option("--endpoint-proc-ms", in.endpoint.proc_ms,
                  "service time on a device core (0: no endpoint placement)");
  cmd->add_option("--endpoint-cores", in.endpoint.cores, "device cores");
  cmd->add_option("--edge-proc-ms", in.edge.proc_ms, "service time on one edge core");
  cmd->add_option("--edge-cores", in.edge.cores, "edge cores or CPU quota (0.5 = half)");
  cmd->add_option("--cloud-proc-ms", in.cloud.proc_ms, "service time on one cloud core");
  cmd->add_option("--cloud-cores", in.cloud.cores, "cloud cores");
  cmd->add_option("--edge-rtt-ms", in.edge_link.rtt_ms, "device-edge round trip");
  cmd->add_option("--edge-rate-mbit", in.edge_link.rate_mbit, "device-edge bandwidth");
  cmd->add_option("--cloud-rtt-ms", in.cloud_link.rtt_ms, "edge-cloud round trip");
  cmd->add_option("--cloud-rate-mbit", in.cloud_link.rate_mbit, "edge-cloud bandwidth");
}

int RunModel(int argc, char** argv) {
  // Two passes so that flags override the file: first find --file, then
  // apply the file, then parse the flags again on top.
  namespace m = stoa::tools::model;
  m::ModelInput scratch;
  ModelFlags mf;
  {
    CLI::App pre;
    pre.allow_extras();
    pre.add_option("--file", mf.file);
    try {
      pre.parse(argc, argv);
    } catch (const CLI::ParseError&) {
    }
  }
  m::ModelInput in;
  if (!mf.file.empty()) {
    auto text = stoa::tools::InlineOrFile("@" + mf.file);
    if (!text.ok()) {
      std::cerr << "stoa model: " << text.status().message() << "\n";
      return 2;
    }
    if (auto s = m::ApplyYaml(*text, in); !s.ok()) {
      std::cerr << "stoa model: " << mf.file << ": " << s.message() << "\n";
      return 1;
    }
  }
  CLI::App app("stoa model: load, bottleneck and mean latency per placement");
  AddModelFlags(&app, in, mf);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto result = m::Evaluate(in);
  if (!result.ok()) {
    std::cerr << "stoa model: " << result.status().message() << "\n";
    return 1;
  }
  if (mf.json) {
    std::cout << stoa::common::DumpJson(m::ToJson(in, *result), 2) << "\n";
  } else {
    std::cout << m::ToTable(in, *result);
  }
  return 0;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "model") return RunModel(argc - 1, argv + 1);
  if (argc >= 2 && std::string(argv[1]) == "replay") {
    return stoa::tools::RunReplay(argc - 1, argv + 1, std::cout, std::cerr);
  }

  std::string gateway = Env("STOA_GATEWAY");
  if (gateway.empty()) gateway = "http://127.0.0.1:8080";
  std::string token = Env("STOA_TOKEN");
  stoa::common::TlsClientFiles tls{Env("STOA_CACERT"), "", ""};
  int timeout_ms = 30000;
  CLI::App app("stoa: command-line client of the Stoa gateway (and `stoa model`)");
  app.require_subcommand(1);
  app.add_option("--gateway", gateway, "gateway URL (env STOA_GATEWAY)")->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "per-request timeout")->capture_default_str();
  app.add_option("--token", token,
                 "bearer token (env STOA_TOKEN, better: arguments are visible in ps)");
  app.add_option("--cacert", tls.ca_file,
                 "CA certificate (PEM) to verify an https:// gateway with (env STOA_CACERT; "
                 "default: the system trust store)");
  app.add_option("--cert", tls.cert_file, "client certificate (PEM) for an https:// gateway");
  app.add_option("--key", tls.key_file, "the client certificate's key (PEM)");

  stoa::tools::TokenRequest token_request;
  auto* tokens = app.add_subcommand("tokens", "make credentials for the gateway's auth file");
  tokens->require_subcommand(1);
  auto* create = tokens->add_subcommand(
      "create", "print a new random token once, then its YAML entry for the auth file");
  create->add_option("--role", token_request.role, "admin, developer, operator or invoker")
      ->required()
      ->check(CLI::IsMember({"admin", "developer", "operator", "invoker"}));
  create->add_option("--tenant", token_request.tenant, "the tenant the token is limited to");
  create->add_option("--functions", token_request.functions,
                     "invokers: function name patterns it may invoke ('*' wildcard)");
  create->add_option("--name", token_request.name, "name in logs and audit (default: ROLE-HEX)");

  auto* functions = app.add_subcommand("functions", "register, list, get or delete functions");
  functions->require_subcommand(1);
  std::string spec, artifact, name;
  bool replace = false;
  auto* reg = functions->add_subcommand("register", "register a function (multipart)");
  reg->add_option("--spec", spec, "spec JSON or @FILE")->required();
  reg->add_option("--artifact", artifact, ".onnx or .wasm file")->required();
  reg->add_flag("--replace", replace, "create or replace (PUT) instead of create (POST)");
  functions->add_subcommand("list", "list functions");
  auto* get = functions->add_subcommand("get", "describe a function");
  get->add_option("name", name)->required();
  auto* del = functions->add_subcommand("delete", "delete a function");
  del->add_option("name", name)->required();

  std::string data = "@/dev/stdin", tier;
  auto* invoke = app.add_subcommand("invoke", "invoke a function");
  invoke->add_option("name", name)->required();
  invoke->add_option("--data", data, "request body or @FILE (default: stdin)");
  invoke->add_option("--tier", tier, "force a tier")->check(CLI::IsMember({"edge", "cloud"}));

  std::string function, policy_json;
  auto* policy = app.add_subcommand("policy", "get or set the placement policy");
  policy->require_subcommand(1);
  auto* pget = policy->add_subcommand("get", "print the policy");
  pget->add_option("--function", function, "a function's own policy");
  auto* pset = policy->add_subcommand("set", "replace the policy");
  pset->add_option("policy", policy_json, "policy JSON or @FILE")->required();
  pset->add_option("--function", function, "a function's own policy");
  auto* state = app.add_subcommand("state", "scheduler state");
  app.add_subcommand("model", "analytical model (see `stoa model --help`)");
  app.add_subcommand("replay", "score policies on a decision trace (see `stoa replay --help`)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto& out = std::cout;
  auto& err = std::cerr;
  namespace t = stoa::tools;
  if (create->parsed()) return t::CreateToken(token_request, out, err);
  auto url = stoa::tools::HttpUrl::Parse(gateway);
  if (!url.ok()) {
    err << "stoa: " << url.status().message() << "\n";
    return 2;
  }
  stoa::tools::HttpConnection conn(*url, timeout_ms, tls);
  if (!conn.status().ok()) {
    err << "stoa: " << conn.status().message() << "\n";
    return 2;
  }
  if (!token.empty()) conn.SetHeader("Authorization", "Bearer " + token);
  if (reg->parsed()) return t::RegisterFunction(conn, spec, artifact, replace, out, err);
  if (functions->got_subcommand("list")) return t::ListFunctions(conn, out, err);
  if (get->parsed()) return t::GetFunction(conn, name, out, err);
  if (del->parsed()) return t::DeleteFunction(conn, name, out, err);
  if (invoke->parsed()) {
    auto body = t::InlineOrFile(data);
    if (!body.ok()) {
      err << "stoa: " << body.status().message() << "\n";
      return 2;
    }
    return t::Invoke(conn, name, *body, tier, out, err);
  }
  if (pget->parsed()) return t::GetPolicy(conn, function, out, err);
  if (pset->parsed()) {
    auto body = t::InlineOrFile(policy_json);
    if (!body.ok()) {
      err << "stoa: " << body.status().message() << "\n";
      return 2;
    }
    return t::SetPolicy(conn, function, *body, out, err);
  }
  if (state->parsed()) return t::GetState(conn, out, err);
  return 2;
}
