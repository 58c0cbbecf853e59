#include "gateway/auth/authenticator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/overload.h"
#include "common/sha256.h"
#include "tests/unit/gateway/auth/auth_test_util.h"

namespace stoa::gateway::auth {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1795000000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-hs256";

std::string Entry(const std::string& name, const std::string& token, const std::string& role,
                  const std::string& extra = "") {
  return "  - {name: " + name + ", sha256: " + common::Sha256Hex(token) + ", role: " + role +
         extra + "}\n";
}

common::HttpRequest WithBearer(const std::string& token) {
  common::HttpRequest request;
  request.headers.emplace("authorization", "Bearer " + token);
  return request;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Authenticator> Make(const std::string& file_text, int watch_ms = 0,
                                      bool jwt = false) {
    Authenticator::Options o;
    o.auth_file = dir_.Write("auth.yaml", file_text);
    o.watch_interval_ms = watch_ms;
    o.clock = &clock_;
    o.unix_now = [] { return kNow; };
    if (jwt) o.jwt_hs256_secret_file = dir_.Write("secret", kSecret);
    auto auth = Authenticator::Create(o, &registry_);
    EXPECT_TRUE(auth.ok()) << auth.status();
    return auth.ok() ? *std::move(auth) : nullptr;
  }

  // Replaces the auth file the way editors do: a new file renamed over it.
  void Replace(const std::string& text) {
    const std::string tmp = dir_.Write("auth.yaml.new", text);
    std::filesystem::rename(tmp, dir_.path() + "/auth.yaml");
  }

  double Reloads(const std::string& outcome) {
    return registry_.AddCounter("stoa_auth_reloads_total", "").Add({{"outcome", outcome}})->Value();
  }

  // Polls (the watcher runs every few ms) until `done` or 10 s.
  template <typename F>
  static bool Eventually(F done) {
    for (int i = 0; i < 1000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }

  testing::ScratchDir dir_;
  common::FakeClock clock_;
  common::metrics::Registry registry_;
};

TEST_F(AuthenticatorTest, BearerTokensAreLookedUpByDigest) {
  auto auth = Make("tokens:\n" + Entry("ops", "ops-token", "admin") +
                   Entry("dev", "dev-token", "developer", ", tenant: acme"));
  ASSERT_NE(auth, nullptr);
  EXPECT_TRUE(auth->enabled());
  auto id = auth->Authenticate(WithBearer("dev-token"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "dev");
  EXPECT_EQ(id->role, Role::kDeveloper);
  EXPECT_EQ(id->tenant, "acme");
  EXPECT_EQ(id->source, "token");
  common::HttpRequest lower;
  lower.headers.emplace("authorization", "bearer   ops-token  ");
  EXPECT_EQ(auth->Authenticate(lower)->name, "ops");
}

TEST_F(AuthenticatorTest, BadCredentialsAreUnauthenticatedWithoutEchoingTheToken) {
  auto auth = Make("tokens:\n" + Entry("ops", "ops-token", "admin"));
  auto expect_refused = [&](const common::HttpRequest& request, const std::string& why) {
    auto id = auth->Authenticate(request);
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(id.status().message()), HasSubstr(why));
    EXPECT_THAT(std::string(id.status().message()), Not(HasSubstr("wrong-token-value")));
  };
  expect_refused(WithBearer("wrong-token-value"), "not known");
  expect_refused(common::HttpRequest{}, "no credentials");
  EXPECT_EQ(WwwAuthenticate(auth->Authenticate(common::HttpRequest{}).status()),
            "Bearer realm=\"stoa\"");
  EXPECT_EQ(WwwAuthenticate(auth->Authenticate(WithBearer("wrong-token-value")).status()),
            "Bearer realm=\"stoa\", error=\"invalid_token\"");
  common::HttpRequest basic;
  basic.headers.emplace("authorization", "Basic wrong-token-value");
  expect_refused(basic, "must be \"Bearer <token>\"");
  common::HttpRequest empty;
  empty.headers.emplace("authorization", "Bearer   ");
  expect_refused(empty, "empty");
  common::HttpRequest twice = WithBearer("ops-token");
  twice.headers.emplace("authorization", "Bearer wrong-token-value");
  expect_refused(twice, "more than one Authorization header");
  expect_refused(WithBearer("eyJhbGciOiJIUzI1NiJ9.e30.wrong-token-value"),
                 "no JWT key is configured");
}

TEST_F(AuthenticatorTest, ClientCertificateNamesStandForFileIdentities) {
  auto auth = Make("tokens:\n  - {name: sensor-7, certificate: device, role: invoker}\n" +
                   Entry("ops", "ops-token", "admin", ", certificate: ops.example"));
  common::HttpRequest request;
  request.tls = true;
  request.peer_names = {"unrelated-cn", "device"};
  auto id = auth->Authenticate(request);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "sensor-7");
  EXPECT_EQ(id->source, "certificate");
  // The bearer token wins over the certificate.
  request.headers.emplace("authorization", "Bearer ops-token");
  EXPECT_EQ(auth->Authenticate(request)->name, "ops");
  common::HttpRequest stranger;
  stranger.peer_names = {"stranger"};
  EXPECT_THAT(std::string(auth->Authenticate(stranger).status().message()),
              HasSubstr("client certificate (CN \"stranger\") stands for no identity"));
}

TEST_F(AuthenticatorTest, JwtIdentitiesGetTheirRoleRateLimit) {
  auto auth = Make("rate_limits:\n  invoker: {per_second: 1, burst: 2}\n", 0, true);
  const std::string token = testing::SignJwt(
      {{"sub", "alice"}, {"role", "invoker"}, {"exp", kNow + 60}}, JWT_ALG_HS256, kSecret);
  auto id = auth->Authenticate(WithBearer(token));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "alice");
  EXPECT_EQ(id->source, "jwt");
  EXPECT_EQ(id->rate_limit, (RateLimit{1, 2}));
  EXPECT_TRUE(auth->Charge(*id).ok());
  EXPECT_TRUE(auth->Charge(*id).ok());
  absl::Status limited = auth->Charge(*id);
  EXPECT_EQ(limited.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(common::RetryAfterSeconds(limited), 1);
  EXPECT_THAT(std::string(limited.message()), HasSubstr("jwt:alice"));
  EXPECT_EQ(
      registry_.AddCounter("stoa_auth_rate_limited_total", "").Add({{"role", "invoker"}})->Value(),
      1);
  clock_.AdvanceMicros(1000000);
  EXPECT_TRUE(auth->Charge(*id).ok());
  json expired = {{"sub", "alice"}, {"role", "invoker"}, {"exp", kNow - 3600}};
  EXPECT_THAT(
      std::string(auth->Authenticate(WithBearer(testing::SignJwt(expired, JWT_ALG_HS256, kSecret)))
                      .status()
                      .message()),
      HasSubstr("expired"));
}

TEST_F(AuthenticatorTest, WithoutFileOrKeyEveryoneIsAnonymousAdmin) {
  auto auth = Authenticator::Create({}, nullptr);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_FALSE((*auth)->enabled());
  auto id = (*auth)->Authenticate(common::HttpRequest{});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->name, "anonymous");
  EXPECT_EQ(id->role, Role::kAdmin);
  EXPECT_EQ(id->source, "none");
  EXPECT_TRUE((*auth)->Charge(*id).ok());
}

TEST_F(AuthenticatorTest, ABadFileAtStartIsAnErrorNamingIt) {
  Authenticator::Options o;
  o.auth_file = dir_.Write("auth.yaml", "tokens:\n  - {name: a, role: admin}\n");
  auto auth = Authenticator::Create(o, &registry_);
  ASSERT_FALSE(auth.ok());
  EXPECT_THAT(std::string(auth.status().message()), HasSubstr("auth.yaml line 2"));
}

TEST_F(AuthenticatorTest, ReloadSwapsTheTableAndABadFileKeepsTheOld) {
  auto auth = Make("tokens:\n" + Entry("old", "old-token", "admin"));
  Replace("tokens:\n" + Entry("new", "new-token", "operator"));
  // watch_interval_ms 0: nothing changes until Reload (SIGHUP).
  EXPECT_TRUE(auth->Authenticate(WithBearer("old-token")).ok());
  ASSERT_TRUE(auth->Reload().ok());
  EXPECT_FALSE(auth->Authenticate(WithBearer("old-token")).ok());
  EXPECT_EQ(auth->Authenticate(WithBearer("new-token"))->role, Role::kOperator);
  EXPECT_EQ(Reloads("ok"), 1);
  Replace("tokens:\n  - {name: broken, sha256: nothex, role: admin}\n");
  absl::Status bad = auth->Reload();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("line 2"));
  EXPECT_EQ(Reloads("error"), 1);
  EXPECT_TRUE(auth->Authenticate(WithBearer("new-token")).ok());
  std::filesystem::remove(dir_.path() + "/auth.yaml");
  EXPECT_FALSE(auth->Reload().ok());
  EXPECT_TRUE(auth->Authenticate(WithBearer("new-token")).ok());
}

TEST_F(AuthenticatorTest, TheWatcherReloadsAChangedFile) {
  auto auth = Make("tokens:\n" + Entry("old", "old-token", "admin"), /*watch_ms=*/10);
  Replace("tokens:\n" + Entry("new", "new-token", "admin"));
  EXPECT_TRUE(Eventually([&] { return auth->Authenticate(WithBearer("new-token")).ok(); }));
  EXPECT_FALSE(auth->Authenticate(WithBearer("old-token")).ok());
  EXPECT_GE(Reloads("ok"), 1);
  // A bad file is counted and the table in force stays.
  Replace("tokens: [\n");
  EXPECT_TRUE(Eventually([&] { return Reloads("error") >= 1; }));
  EXPECT_TRUE(auth->Authenticate(WithBearer("new-token")).ok());
  // Rewritten in place (same inode, other size) is noticed too.
  dir_.Write("auth.yaml", "tokens:\n" + Entry("third", "third-token", "invoker"));
  EXPECT_TRUE(Eventually([&] { return auth->Authenticate(WithBearer("third-token")).ok(); }));
}

TEST_F(AuthenticatorTest, ReloadKeepsBucketsOfIdentitiesStillPresent) {
  const std::string limits = ", rate_limit: {per_second: 1, burst: 1}";
  auto auth = Make("tokens:\n" + Entry("a", "a-token", "admin", limits) +
                   Entry("b", "b-token", "admin", limits));
  auto a = *auth->Authenticate(WithBearer("a-token"));
  auto b = *auth->Authenticate(WithBearer("b-token"));
  EXPECT_TRUE(auth->Charge(a).ok());
  EXPECT_TRUE(auth->Charge(b).ok());
  Replace("tokens:\n" + Entry("a", "a-token", "admin", limits) +
          Entry("b2", "b-token", "admin", limits));
  ASSERT_TRUE(auth->Reload().ok());
  EXPECT_FALSE(auth->Charge(a).ok());  // still empty
  auto b2 = *auth->Authenticate(WithBearer("b-token"));
  EXPECT_EQ(b2.name, "b2");
  EXPECT_TRUE(auth->Charge(b2).ok());  // a new identity, a new bucket
}

TEST_F(AuthenticatorTest, RequestsDuringReloadsSeeTheOldOrTheNewTableNeverNeither) {
  const std::string a =
      "tokens:\n" + Entry("shared", "shared-token", "admin") + Entry("only-a", "a-token", "admin");
  const std::string b = "tokens:\n" + Entry("shared", "shared-token", "operator") +
                        Entry("only-b", "b-token", "admin");
  auto auth = Make(a);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, requests{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        auto id = auth->Authenticate(WithBearer("shared-token"));
        if (!id.ok() || id->name != "shared") failures.fetch_add(1);
        requests.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    Replace(i % 2 == 0 ? b : a);
    EXPECT_TRUE(auth->Reload().ok());
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(requests.load(), 0);
  EXPECT_EQ(Reloads("ok"), 100);
}

}  // namespace
}  // namespace stoa::gateway::auth
