// Who may do what, against the real binaries over real TLS (issue 11): an
// executor with mutual TLS, a gateway serving HTTPS with an auth file, JWTs
// and device certificates, and talking to the executor with its client
// certificate; certificates from deploy/tls/make-dev-certs.sh.
//
//  - every route x role: allowed (no 401/403) or refused with the right
//    status and the permission named;
//  - tenant isolation; invoker name patterns; device certificates;
//  - JWTs: valid, expired, forged, wrong issuer, alg none;
//  - the token file reloaded when it changes and on SIGHUP, a bad file
//    keeping the old table; rate limits; the audit trail;
//  - plaintext against the HTTPS port; the secure-default refusals;
//  - the HTTPS certificate reloaded on SIGHUP (a broken one kept out).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/common/dev_certs.h"
#include "tests/fakes/gateway/jwt_signer.h"
#include "tests/integration/harness.h"
#include "tests/integration/tls_harness.h"

namespace stoa::testing {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kJwtSecret[] = "integration-test-secret-of-at-least-32-bytes";
constexpr char kIssuer[] = "stoa-auth-test";

// The tokens of the auth file, by the name of their entry.
const std::map<std::string, std::string>& Tokens() {
  static const std::map<std::string, std::string> tokens = {
      {"admin", "stoa_test_admin_5f0c"},           {"developer", "stoa_test_developer_91aa"},
      {"operator", "stoa_test_operator_77d2"},     {"invoker", "stoa_test_invoker_30be"},
      {"acme-dev", "stoa_test_acme_dev_1c4e"},     {"acme-inv", "stoa_test_acme_inv_8e21"},
      {"acme-op", "stoa_test_acme_op_52f0"},       {"acme-admin", "stoa_test_acme_admin_aa01"},
      {"globex-dev", "stoa_test_globex_dev_6b3d"}, {"globex-inv", "stoa_test_globex_inv_0d9c"},
      {"limited", "stoa_test_limited_4471"},       {"late", "stoa_test_late_e5e5"},
  };
  return tokens;
}

std::string Entry(const std::string& name, const std::string& extra) {
  return "  - {name: " + name + ", sha256: " + common::Sha256Hex(Tokens().at(name)) + ", " + extra +
         "}\n";
}

std::string AuthYaml(bool with_late) {
  std::string yaml = "tokens:\n";
  yaml += Entry("admin", "role: admin");
  yaml += Entry("developer", "role: developer");
  yaml += Entry("operator", "role: operator");
  yaml += Entry("invoker", "role: invoker, functions: [\"digits*\", \"matrix\"]");
  yaml += Entry("acme-dev", "role: developer, tenant: acme");
  yaml += Entry("acme-inv", "role: invoker, tenant: acme");
  yaml += Entry("acme-op", "role: operator, tenant: acme");
  yaml += Entry("acme-admin", "role: admin, tenant: acme");
  yaml += Entry("globex-dev", "role: developer, tenant: globex");
  yaml += Entry("globex-inv", "role: invoker, tenant: globex");
  yaml += Entry("limited", "role: invoker, rate_limit: {per_second: 0.5, burst: 3}");
  if (with_late) yaml += Entry("late", "role: admin");
  yaml += "  - {name: sensor, certificate: device, role: invoker, functions: [digits]}\n";
  return yaml;
}

void WriteFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  ::chmod(tmp.c_str(), 0600);
  ASSERT_EQ(::rename(tmp.c_str(), path.c_str()), 0);
}

std::string DigitsRequest() {
  return ReadFileOrDie(SourcePath("functions/examples/digits/sample_request.json"));
}

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new DevCerts(MakeDevCerts("auth-certs"));
    ASSERT_FALSE(certs_->dir.empty());
    auth_file_ = new std::string(certs_->dir + "/auth.yaml");
    WriteFile(*auth_file_, AuthYaml(false));
    std::ofstream(certs_->dir + "/jwt.secret") << kJwtSecret;
    const DevCerts& c = *certs_;
    platform_ = new Platform(
        StartPlatform("auth",
                      {"--auth-file", *auth_file_, "--tls-cert", c.Path("gateway.crt"), "--tls-key",
                       c.Path("gateway.key"), "--tls-client-ca", c.Path("ca.crt"),
                       "--executor-tls-cert", c.Path("gateway.crt"), "--executor-tls-key",
                       c.Path("gateway.key"), "--executor-tls-ca", c.Path("ca.crt"),
                       "--jwt-hs256-secret-file", c.dir + "/jwt.secret", "--jwt-issuer", kIssuer},
                      {"--tls-cert", c.Path("executor.crt"), "--tls-key", c.Path("executor.key"),
                       "--tls-client-ca", c.Path("ca.crt"), "--tls-client-name", "gateway"}));
    ASSERT_NE(platform_->gateway, nullptr);
    ASSERT_EQ(Client("admin").Get("/healthz").status, 200);
  }
  static void TearDownTestSuite() {
    delete platform_;
    delete auth_file_;
    delete certs_;
  }

  // An HTTPS client verifying the gateway against the test CA, carrying
  // `token_name`'s token ("" : none).
  static HttpClient Client(const std::string& token_name, HttpClientOptions options = {}) {
    options.ca_file = certs_->Path("ca.crt");
    if (!token_name.empty()) {
      options.headers.emplace_back("Authorization", "Bearer " + Tokens().at(token_name));
    }
    return HttpClient(platform_->gateway->address(), options);
  }
  static HttpClient Bearer(const std::string& value) {
    HttpClientOptions options;
    options.ca_file = certs_->Path("ca.crt");
    options.headers.emplace_back("Authorization", "Bearer " + value);
    return HttpClient(platform_->gateway->address(), options);
  }
  static int Register(HttpClient& client, const std::string& name, const std::string& extra = "") {
    Multipart m = MakeRegistration(R"({"name":")" + name + R"(","runtime":"onnx")" + extra + "}",
                                   DigitsModel());
    return client.Put("/v1/functions/" + name, m.body, m.content_type).status;
  }
  static std::string Jwt(json claims) {
    return gateway::auth::testing::SignJwt(claims, JWT_ALG_HS256, kJwtSecret);
  }
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  static DevCerts* certs_;
  static std::string* auth_file_;
  static Platform* platform_;
};

DevCerts* AuthTest::certs_ = nullptr;
std::string* AuthTest::auth_file_ = nullptr;
Platform* AuthTest::platform_ = nullptr;

struct RouteCase {
  std::string method, target;
  std::string body_kind;           // "", "register" (matrix), "register-new", "invoke", "policy"
  std::vector<std::string> roles;  // allowed; empty: open to everyone
  std::string permission;          // named in the 403
};

std::vector<RouteCase> Routes() {
  const std::vector<std::string> a = {"admin"}, ad = {"admin", "developer"},
                                 ao = {"admin", "operator"}, ai = {"admin", "invoker"},
                                 adi = {"admin", "developer", "invoker"}, open = {};
  return {
      {"GET", "/healthz", "", open, ""},
      {"GET", "/readyz", "", open, ""},
      {"GET", "/v2/health/live", "", open, ""},
      {"GET", "/v2/health/ready", "", open, ""},
      {"GET", "/v1/functions", "", ad, "functions:read"},
      {"GET", "/v1/functions/matrix", "", ad, "functions:read"},
      {"POST", "/v1/functions", "register-new", ad, "functions:write"},
      {"PUT", "/v1/functions/matrix", "register", ad, "functions:write"},
      {"POST", "/v1/functions/matrix/invoke", "invoke", ai, "functions:invoke"},
      {"POST", "/v2/models/matrix/infer", "invoke", ai, "functions:invoke"},
      {"GET", "/v2/models/matrix", "", adi, "functions:read or functions:invoke"},
      {"GET", "/v2/models/matrix/ready", "", adi, "functions:read or functions:invoke"},
      {"GET", "/v1/functions/matrix/policy", "", ao, "policy:read"},
      {"PUT", "/v1/functions/matrix/policy", "policy", ao, "policy:write"},
      {"DELETE", "/v1/functions/matrix/policy", "", ao, "policy:write"},
      {"GET", "/v1/policy", "", ao, "policy:read"},
      {"PUT", "/v1/policy", "policy", ao, "policy:write"},
      {"GET", "/v1/scheduler/state", "", ao, "scheduler:read"},
      {"GET", "/metrics", "", ao, "metrics:read"},
      {"GET", "/v1/audit", "", a, "audit:read"},
      {"DELETE", "/v1/functions/matrix", "", ad, "functions:write"},
  };
}

TEST_F(AuthTest, EveryRouteTimesEveryRole) {
  HttpClient admin = Client("admin");
  int checked = 0;
  for (const RouteCase& route : Routes()) {
    for (const std::string role : {"", "admin", "developer", "operator", "invoker"}) {
      // The function the routes name exists before each call (a DELETE by
      // the previous role removed it).
      ASSERT_LT(Register(admin, "matrix"), 300);
      admin.Delete("/v1/functions/matrix-new");
      HttpClient client = Client(role);
      std::string body, type = "application/json";
      if (route.body_kind == "register" || route.body_kind == "register-new") {
        const std::string name = route.body_kind == "register" ? "matrix" : "matrix-new";
        Multipart m =
            MakeRegistration(R"({"name":")" + name + R"(","runtime":"onnx"})", DigitsModel());
        body = m.body;
        type = m.content_type;
      } else if (route.body_kind == "invoke") {
        body = DigitsRequest();
      } else if (route.body_kind == "policy") {
        body = R"({"policy":"predictive"})";
      }
      HttpResult r = client.Request(route.method, route.target, body, type);
      const std::string what = route.method + " " + route.target + " as '" + role + "'";
      const bool open = route.roles.empty();
      const bool allowed =
          open || std::find(route.roles.begin(), route.roles.end(), role) != route.roles.end();
      if (allowed) {
        EXPECT_TRUE(r.status >= 200 && r.status < 400) << what << ": " << r.status << " " << r.body;
      } else if (role.empty()) {
        EXPECT_EQ(r.status, 401) << what << ": " << r.body;
        EXPECT_EQ(r.Header("www-authenticate"), "Bearer realm=\"stoa\"") << what;
      } else {
        const std::string message = ErrorMessage(r, 403, "PERMISSION_DENIED");
        EXPECT_NE(message.find(route.permission), std::string::npos) << what << ": " << message;
        EXPECT_NE(message.find("'" + role + "'"), std::string::npos) << what << ": " << message;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 21 * 5);
}

TEST_F(AuthTest, InvokesOnBothTiersOverMutualTls) {
  HttpClient admin = Client("admin");
  ASSERT_LT(Register(admin, "digits"), 300);
  HttpClient invoker = Client("invoker");
  for (const std::string tier : {"edge", "cloud"}) {
    HttpResult r = invoker.Post("/v1/functions/digits/invoke?tier=" + tier, DigitsRequest());
    EXPECT_EQ(r.status, 200) << tier << ": " << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), tier);
  }
}

TEST_F(AuthTest, InvokerPatternsRefuseOtherNamesWithoutSayingWhetherTheyExist) {
  HttpClient admin = Client("admin");
  ASSERT_LT(Register(admin, "billing"), 300);
  HttpClient invoker = Client("invoker");
  for (const std::string name : {"billing", "no-such-function"}) {
    const std::string message =
        ErrorMessage(invoker.Post("/v1/functions/" + name + "/invoke", DigitsRequest()), 403,
                     "PERMISSION_DENIED");
    EXPECT_NE(message.find("may not invoke '" + name + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("digits*, matrix"), std::string::npos) << message;
  }
  EXPECT_EQ(invoker.Get("/v2/models/billing").status, 403);
}

TEST_F(AuthTest, TenantsSeeChangeAndInvokeOnlyTheirOwnFunctions) {
  HttpClient acme = Client("acme-dev"), globex = Client("globex-dev");
  ASSERT_EQ(Register(acme, "acme-digits"), 201);
  json described = json::parse(acme.Get("/v1/functions/acme-digits").body);
  EXPECT_EQ(described["tenant"], "acme");

  // Another tenant: as if it did not exist, except that the name is taken.
  json listed = json::parse(globex.Get("/v1/functions").body);
  for (const json& f : listed["functions"]) EXPECT_NE(f["name"], "acme-digits");
  ErrorMessage(globex.Get("/v1/functions/acme-digits"), 404, "NOT_FOUND");
  ErrorMessage(globex.Delete("/v1/functions/acme-digits"), 404, "NOT_FOUND");
  const std::string taken = ErrorMessage(
      [&] {
        Multipart m = MakeRegistration(R"({"name":"acme-digits","runtime":"onnx"})", DigitsModel());
        return globex.Put("/v1/functions/acme-digits", m.body, m.content_type);
      }(),
      409, "ALREADY_EXISTS");
  EXPECT_NE(taken.find("taken by another tenant"), std::string::npos) << taken;
  ErrorMessage(Client("globex-inv").Post("/v1/functions/acme-digits/invoke", DigitsRequest()), 404,
               "NOT_FOUND");
  EXPECT_EQ(Client("acme-op").Get("/v1/functions/acme-digits/policy").status, 200);
  ErrorMessage(Client("acme-op").Get("/v1/functions/matrix/policy"), 404, "NOT_FOUND");
  // A tenant's developer cannot register for another tenant.
  const std::string other = ErrorMessage(
      [&] {
        Multipart m = MakeRegistration(R"({"name":"acme-x","runtime":"onnx","tenant":"globex"})",
                                       DigitsModel());
        return acme.Post("/v1/functions", m.body, m.content_type);
      }(),
      403, "PERMISSION_DENIED");
  EXPECT_NE(other.find("tenant 'globex'"), std::string::npos) << other;

  // Its own tenant's invoker runs it; an admin without a tenant sees it.
  EXPECT_EQ(Client("acme-inv").Post("/v1/functions/acme-digits/invoke", DigitsRequest()).status,
            200);
  EXPECT_EQ(Client("admin").Get("/v1/functions/acme-digits").status, 200);

  // Cluster-wide things need an identity without a tenant; the scheduler's
  // state is filtered.
  HttpClient acme_op = Client("acme-op");
  ErrorMessage(acme_op.Put("/v1/policy", R"({"policy":"predictive"})"), 403, "PERMISSION_DENIED");
  ErrorMessage(acme_op.Get("/metrics"), 403, "PERMISSION_DENIED");
  HttpClient admin = Client("admin");
  ASSERT_LT(Register(admin, "digits"), 300);
  ASSERT_EQ(Client("invoker").Post("/v1/functions/digits/invoke", DigitsRequest()).status, 200);
  json state = json::parse(acme_op.Get("/v1/scheduler/state").body);
  EXPECT_TRUE(state["functions"].contains("acme-digits")) << state.dump();
  EXPECT_FALSE(state["functions"].contains("digits")) << state.dump();
  json all = json::parse(admin.Get("/v1/scheduler/state").body);
  EXPECT_TRUE(all["functions"].contains("digits"));

  // The tenant's admin reads its tenant's audit entries only.
  json audit = json::parse(Client("acme-admin").Get("/v1/audit?limit=1000").body);
  ASSERT_FALSE(audit["entries"].empty());
  for (const json& e : audit["entries"]) {
    EXPECT_TRUE(e["tenant"] == "acme" || e["target_tenant"] == "acme") << e.dump();
  }
}

TEST_F(AuthTest, DeviceCertificatesStandForAnIdentity) {
  HttpClient admin = Client("admin");
  ASSERT_LT(Register(admin, "digits"), 300);
  HttpClientOptions device;
  device.cert_file = certs_->Path("device.crt");
  device.key_file = certs_->Path("device.key");
  HttpClient sensor = Client("", device);
  EXPECT_EQ(sensor.Post("/v1/functions/digits/invoke", DigitsRequest()).status, 200);
  const std::string message = ErrorMessage(sensor.Get("/v1/functions"), 403, "PERMISSION_DENIED");
  EXPECT_NE(message.find("'sensor'"), std::string::npos) << message;

  // A certificate another CA signed does not get through the handshake.
  DevCerts foreign = MakeDevCerts("auth-foreign");
  HttpClientOptions stranger;
  stranger.cert_file = foreign.Path("device.crt");
  stranger.key_file = foreign.Path("device.key");
  EXPECT_EQ(Client("", stranger).Get("/v1/functions").status, 0);
  EXPECT_EQ(Client("admin").Get("/healthz").status, 200);
}

TEST_F(AuthTest, JwtsAreCheckedForSignatureExpiryAndIssuer) {
  HttpClient admin = Client("admin");
  ASSERT_LT(Register(admin, "digits"), 300);
  const json good = {{"sub", "svc-a"},
                     {"role", "invoker"},
                     {"iss", kIssuer},
                     {"exp", Now() + 600},
                     {"functions", {"digits"}}};
  EXPECT_EQ(Bearer(Jwt(good)).Post("/v1/functions/digits/invoke", DigitsRequest()).status, 200);
  EXPECT_EQ(Bearer(Jwt(good)).Get("/v1/functions").status, 403);

  json expired = good;
  expired["exp"] = Now() - 3600;
  std::string message =
      ErrorMessage(Bearer(Jwt(expired)).Get("/v1/functions"), 401, "UNAUTHENTICATED");
  EXPECT_NE(message.find("expired"), std::string::npos) << message;

  json wrong_issuer = good;
  wrong_issuer["iss"] = "someone-else";
  ErrorMessage(Bearer(Jwt(wrong_issuer)).Get("/v1/functions"), 401, "UNAUTHENTICATED");

  json escalated = good;
  escalated["role"] = "admin";
  const std::string forged = gateway::auth::testing::SignJwt(
      escalated, JWT_ALG_HS256, "not-the-secret-not-the-secret-not-the-secret");
  message = ErrorMessage(Bearer(forged).Get("/v1/audit"), 401, "UNAUTHENTICATED");
  EXPECT_NE(message.find("signature"), std::string::npos) << message;

  // alg "none": header {"alg":"none","typ":"JWT"}, no signature.
  const std::string none =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + Jwt(escalated).substr(Jwt(escalated).find('.') + 1);
  ErrorMessage(Bearer(none.substr(0, none.rfind('.') + 1)).Get("/v1/audit"), 401,
               "UNAUTHENTICATED");
}

TEST_F(AuthTest, RateLimitsAnswer429WithRetryAfter) {
  HttpClient limited = Client("limited");
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(limited.Get("/v1/functions/digits/policy").status, 429) << i;  // 403: not its role
  }
  HttpResult over = limited.Get("/v1/functions/digits/policy");
  ErrorMessage(over, 429, "RESOURCE_EXHAUSTED");
  int retry_after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(over.Header("retry-after"), &retry_after))
      << over.Header("retry-after");
  EXPECT_GE(retry_after, 1);
  // Others are not affected.
  EXPECT_EQ(Client("admin").Get("/v1/functions").status, 200);
}

TEST_F(AuthTest, TheTokenFileIsReloadedWhenItChangesAndOnSighup) {
  HttpClient late = Client("late");
  ErrorMessage(late.Get("/v1/functions"), 401, "UNAUTHENTICATED");
  WriteFile(*auth_file_, AuthYaml(true));
  // The watcher polls every second and waits for the file to settle.
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = late.Get("/v1/functions").status;
  }
  EXPECT_EQ(status, 200);

  // A broken file keeps the table in force, and the gateway serves on.
  WriteFile(*auth_file_, "tokens:\n  - {name: x, sha256: nothex, role: admin}\n");
  ASSERT_EQ(::kill(platform_->gateway->pid(), SIGHUP), 0);  // Signal() waits for an exit
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(late.Get("/v1/functions").status, 200);
  EXPECT_EQ(Client("admin").Get("/healthz").status, 200);

  // SIGHUP applies a removal at once.
  WriteFile(*auth_file_, AuthYaml(false));
  ASSERT_EQ(::kill(platform_->gateway->pid(), SIGHUP), 0);  // Signal() waits for an exit
  status = 0;
  for (int i = 0; i < 30 && status != 401; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = late.Get("/v1/functions").status;
  }
  EXPECT_EQ(status, 401);
}

TEST_F(AuthTest, ChangesAreAuditedWithIdentityAndWhatChanged) {
  HttpClient dev = Client("developer");
  ASSERT_LT(Register(dev, "audited"), 300);
  ASSERT_EQ(Register(dev, "audited"), 200);  // a replacement
  ASSERT_EQ(dev.Delete("/v1/functions/audited").status, 204);
  ASSERT_EQ(Client("invoker").Delete("/v1/functions/digits").status, 403);
  json audit = json::parse(Client("admin").Get("/v1/audit?limit=50").body);
  std::vector<json> mine;
  for (const json& e : audit["entries"]) {
    if (e["target"] == "audited" || (e["identity"] == "invoker" && e["outcome"] == "denied")) {
      mine.push_back(e);
    }
  }
  ASSERT_GE(mine.size(), 4u) << audit.dump();
  EXPECT_EQ(mine[0]["identity"], "invoker");  // newest first
  EXPECT_EQ(mine[0]["action"], "function.delete");
  EXPECT_EQ(mine[1]["action"], "function.delete");
  EXPECT_EQ(mine[1]["identity"], "developer");
  EXPECT_EQ(mine[2]["action"], "function.replace");
  EXPECT_EQ(mine[2]["details"]["previous"]["version"], 1);
  EXPECT_EQ(mine[2]["details"]["version"], 2);
  EXPECT_EQ(mine[3]["role"], "developer");
  ErrorMessage(dev.Get("/v1/audit"), 403, "PERMISSION_DENIED");
}

TEST_F(AuthTest, PlaintextAgainstTheHttpsPortIsToldToUseHttps) {
  HttpClient plain(platform_->gateway->address());
  const std::string message = ErrorMessage(plain.Get("/healthz"), 400, "INVALID_ARGUMENT");
  EXPECT_NE(message.find("HTTPS"), std::string::npos) << message;
  EXPECT_EQ(Client("admin").Get("/healthz").status, 200);
}

// The serial number of the certificate the HTTPS server at `port` presents
// to a new connection (openssl s_client), "" when none.
std::string ServedSerial(int port, const std::string& ca_file) {
  const std::string out = MakeTempDir("serial") + "/serial";
  const std::string command =
      "openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile '" + ca_file +
      "' </dev/null 2>/dev/null | openssl x509 -noout -serial >'" + out + "' 2>/dev/null";
  if (std::system(command.c_str()) != 0) return "";
  std::string serial = ReadFileOrDie(out);
  while (!serial.empty() && serial.back() == '\n') serial.pop_back();
  return serial;
}

TEST(HttpsReload, SighupServesTheNewCertificateAndKeepsOpenConnections) {
  DevCerts certs = MakeDevCerts("reload-certs");
  ASSERT_FALSE(certs.dir.empty());
  auto gateway = Process::Start(
      BinaryPath("stoa-gateway"),
      {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("reload-data"), "--edge", "none",
       "--tls-cert", certs.Path("gateway.crt"), "--tls-key", certs.Path("gateway.key")});
  ASSERT_NE(gateway, nullptr);
  HttpClientOptions options;
  options.ca_file = certs.Path("ca.crt");
  HttpClient open_connection(gateway->address(), options);
  ASSERT_EQ(open_connection.Get("/healthz").status, 200);
  const std::string before = ServedSerial(gateway->port(), certs.Path("ca.crt"));
  ASSERT_NE(before, "");

  // New leaf certificates from the same CA, then SIGHUP.
  ASSERT_TRUE(WriteDevCerts(certs.dir));
  ASSERT_EQ(::kill(gateway->pid(), SIGHUP), 0);
  std::string after = before;
  for (int i = 0; i < 50 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = ServedSerial(gateway->port(), certs.Path("ca.crt"));
  }
  EXPECT_NE(after, before);
  EXPECT_NE(after, "");
  EXPECT_EQ(open_connection.Get("/healthz").status, 200);  // the open connection goes on

  // A broken certificate file on SIGHUP keeps the one in force.
  std::ofstream(certs.Path("gateway.crt")) << "not a certificate\n";
  ASSERT_EQ(::kill(gateway->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(ServedSerial(gateway->port(), certs.Path("ca.crt")), after);
  EXPECT_EQ(HttpClient(gateway->address(), options).Get("/healthz").status, 200);
}

TEST(SecureDefault, TheGatewayRefusesTheNetworkWithoutAuthenticationUnlessInsecure) {
  const std::string data = MakeTempDir("secure-default");
  ExitResult refused = RunToExit(BinaryPath("stoa-gateway"),
                                 {"--listen", "0.0.0.0:0", "--data-dir", data, "--edge", "none"});
  EXPECT_EQ(refused.exit_code, 2) << refused.stderr_text;
  EXPECT_NE(refused.stderr_text.find("refusing to listen on 0.0.0.0:0 without authentication"),
            std::string::npos)
      << refused.stderr_text;
  EXPECT_NE(refused.stderr_text.find("--insecure"), std::string::npos);

  auto insecure = Process::Start(BinaryPath("stoa-gateway"),
                                 {"--listen", "0.0.0.0:0", "--data-dir", data, "--insecure"});
  ASSERT_NE(insecure, nullptr);
  EXPECT_EQ(HttpClient("127.0.0.1:" + std::to_string(insecure->port())).Get("/healthz").status,
            200);
}

}  // namespace
}  // namespace stoa::testing
