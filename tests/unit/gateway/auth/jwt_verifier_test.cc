#include "gateway/auth/jwt_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/unit/gateway/auth/auth_test_util.h"

namespace stoa::gateway::auth {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1795000000;  // 2026-11-18
const std::string kSecret = "0123456789abcdef0123456789abcdef-hs256";

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new testing::RsaKeyPair(testing::MakeRsaKeyPair());
    other_rsa_ = new testing::RsaKeyPair(testing::MakeRsaKeyPair());
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete other_rsa_;
  }

  std::unique_ptr<JwtVerifier> Make(bool hs, bool rs, std::string issuer = "",
                                    std::string audience = "", size_t cache = 4096) {
    JwtVerifier::Options o;
    if (hs) o.hs256_secret_file = dir_.Write("secret", kSecret + "\n");
    if (rs) o.rs256_public_key_file = dir_.Write("pub.pem", rsa_->public_pem);
    o.issuer = std::move(issuer);
    o.audience = std::move(audience);
    o.cache_entries = cache;
    auto v = JwtVerifier::Create(o);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : nullptr;
  }

  static json Claims() {
    return {{"sub", "alice"},
            {"role", "invoker"},
            {"tenant", "acme"},
            {"functions", {"digits", "anomaly-*"}},
            {"exp", kNow + 3600}};
  }

  // The error message of verifying `token`, which must be UNAUTHENTICATED.
  static std::string Refusal(const JwtVerifier& v, const std::string& token, int64_t now = kNow) {
    auto id = v.Verify(token, now);
    EXPECT_FALSE(id.ok()) << token;
    if (id.ok()) return "";
    EXPECT_EQ(id.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(id.status().message()), Not(HasSubstr(token)));
    return std::string(id.status().message());
  }

  testing::ScratchDir dir_;
  static testing::RsaKeyPair* rsa_;
  static testing::RsaKeyPair* other_rsa_;
};
testing::RsaKeyPair* JwtVerifierTest::rsa_ = nullptr;
testing::RsaKeyPair* JwtVerifierTest::other_rsa_ = nullptr;

TEST_F(JwtVerifierTest, ValidHs256TokenGivesItsClaims) {
  auto v = Make(true, false);
  ASSERT_NE(v, nullptr);
  const std::string token = testing::SignJwt(Claims(), JWT_ALG_HS256, kSecret);
  ASSERT_TRUE(JwtVerifier::LooksLikeJwt(token));
  auto id = v->Verify(token, kNow);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "alice");
  EXPECT_EQ(id->role, Role::kInvoker);
  EXPECT_EQ(id->tenant, "acme");
  EXPECT_EQ(id->functions, (std::vector<std::string>{"digits", "anomaly-*"}));
  EXPECT_EQ(id->source, "jwt");
}

TEST_F(JwtVerifierTest, ValidRs256TokenGivesItsClaims) {
  auto v = Make(false, true);
  ASSERT_NE(v, nullptr);
  json claims = {{"sub", "ci"}, {"role", "developer"}, {"exp", kNow + 60}};
  auto id = v->Verify(testing::SignJwt(claims, JWT_ALG_RS256, rsa_->private_pem), kNow);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "ci");
  EXPECT_EQ(id->role, Role::kDeveloper);
  EXPECT_TRUE(id->tenant.empty());
}

TEST_F(JwtVerifierTest, ExpiryAndNotBeforeHonourTheLeeway) {
  auto v = Make(true, false);
  json claims = Claims();
  claims["exp"] = kNow - 10;  // within the 30 s leeway
  EXPECT_TRUE(v->Verify(testing::SignJwt(claims, JWT_ALG_HS256, kSecret), kNow).ok());
  claims["exp"] = kNow - 31;
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
              HasSubstr("the JWT expired at 2026-"));
  claims["exp"] = kNow + 3600;
  claims["nbf"] = kNow + 600;
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
              HasSubstr("the JWT is not valid before 2026-"));
  claims["nbf"] = kNow + 20;
  EXPECT_TRUE(v->Verify(testing::SignJwt(claims, JWT_ALG_HS256, kSecret), kNow).ok());
  // Absurd times neither overflow nor pass.
  claims["nbf"] = 1e300;
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
              HasSubstr("not valid before"));
  claims.erase("nbf");
  claims["exp"] = -1e300;
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)), HasSubstr("expired"));
  claims["exp"] = 1e300;
  EXPECT_TRUE(v->Verify(testing::SignJwt(claims, JWT_ALG_HS256, kSecret), kNow).ok());
}

TEST_F(JwtVerifierTest, ACachedTokenStillExpires) {
  auto v = Make(true, false);
  json claims = Claims();
  claims["exp"] = kNow + 100;
  const std::string token = testing::SignJwt(claims, JWT_ALG_HS256, kSecret);
  EXPECT_TRUE(v->Verify(token, kNow).ok());
  EXPECT_TRUE(v->Verify(token, kNow + 50).ok());  // from the cache
  EXPECT_THAT(Refusal(*v, token, kNow + 200), HasSubstr("expired"));
}

TEST_F(JwtVerifierTest, IssuerAndAudienceAreCheckedWhenConfigured) {
  auto v = Make(true, false, "https://idp.example", "stoa");
  json claims = Claims();
  claims["iss"] = "https://idp.example";
  claims["aud"] = "stoa";
  EXPECT_TRUE(v->Verify(testing::SignJwt(claims, JWT_ALG_HS256, kSecret), kNow).ok());
  claims["aud"] = {"other", "stoa"};
  EXPECT_TRUE(v->Verify(testing::SignJwt(claims, JWT_ALG_HS256, kSecret), kNow).ok());
  claims["aud"] = "other";
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
              HasSubstr("aud does not include the configured audience"));
  claims.erase("aud");
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)), HasSubstr("no aud"));
  claims["aud"] = "stoa";
  claims["iss"] = "https://evil.example";
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
              HasSubstr("iss is not the configured issuer"));
}

TEST_F(JwtVerifierTest, ForgedSignaturesAreRefused) {
  auto both = Make(true, true);
  EXPECT_THAT(Refusal(*both, testing::SignJwt(Claims(), JWT_ALG_HS256, kSecret + "x")),
              HasSubstr("signature does not verify"));
  EXPECT_THAT(Refusal(*both, testing::SignJwt(Claims(), JWT_ALG_RS256, other_rsa_->private_pem)),
              HasSubstr("signature does not verify"));
  // A valid signature over other claims: the role raised to admin.
  const std::string token = testing::SignJwt(Claims(), JWT_ALG_HS256, kSecret);
  json raised = Claims();
  raised["role"] = "admin";
  const std::string forged = testing::RawJwt({{"alg", "HS256"}, {"typ", "JWT"}}, raised,
                                             token.substr(token.rfind('.') + 1));
  EXPECT_THAT(Refusal(*both, forged), HasSubstr("signature does not verify"));
}

TEST_F(JwtVerifierTest, AlgNoneIsAlwaysRefused) {
  auto v = Make(true, true);
  EXPECT_THAT(Refusal(*v, testing::RawJwt({{"alg", "none"}}, Claims(), "")),
              HasSubstr("alg none is never accepted"));
  EXPECT_THAT(Refusal(*v, testing::RawJwt({{"alg", "None"}}, Claims(), "c2ln")),
              HasSubstr("alg none is never accepted"));
}

TEST_F(JwtVerifierTest, AlgConfusionWithThePublicKeyAsHmacSecretIsRefused) {
  auto rs_only = Make(false, true);
  const std::string confused = testing::SignJwt(Claims(), JWT_ALG_HS256, rsa_->public_pem);
  ASSERT_FALSE(confused.empty());
  EXPECT_THAT(Refusal(*rs_only, confused),
              HasSubstr("alg \"HS256\" is not accepted (configured: RS256)"));
  // With both configured, HS256 is checked against the HS256 secret only.
  auto both = Make(true, true);
  EXPECT_THAT(Refusal(*both, confused), HasSubstr("signature does not verify"));
  auto hs_only = Make(true, false);
  EXPECT_THAT(Refusal(*hs_only, testing::SignJwt(Claims(), JWT_ALG_RS256, rsa_->private_pem)),
              HasSubstr("alg \"RS256\" is not accepted (configured: HS256)"));
}

TEST_F(JwtVerifierTest, MissingRequiredClaimsAreRefused) {
  auto v = Make(true, false);
  for (const char* claim : {"sub", "role", "exp"}) {
    json claims = Claims();
    claims.erase(claim);
    EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
                HasSubstr(std::string("no ") + claim))
        << claim;
  }
  json claims = Claims();
  claims["role"] = "root";
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
              HasSubstr("role \"root\" is not"));
  claims = Claims();
  claims["role"] = "operator";
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
              HasSubstr("functions claim applies only to role invoker"));
  claims = Claims();
  claims["tenant"] = "Not/Valid";
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)), HasSubstr("tenant"));
  claims = Claims();
  claims["exp"] = "tomorrow";
  EXPECT_THAT(Refusal(*v, testing::SignJwt(claims, JWT_ALG_HS256, kSecret)),
              HasSubstr("exp is not a number"));
}

TEST_F(JwtVerifierTest, GarbageIsRefusedWithoutEchoingIt) {
  auto v = Make(true, true);
  EXPECT_FALSE(JwtVerifier::LooksLikeJwt("abc"));
  EXPECT_FALSE(JwtVerifier::LooksLikeJwt("a.b"));
  EXPECT_FALSE(JwtVerifier::LooksLikeJwt("a.b.c.d"));
  EXPECT_FALSE(JwtVerifier::LooksLikeJwt("a+.b.c"));
  EXPECT_THAT(Refusal(*v, "not-a-jwt"), HasSubstr("not a JWT"));
  EXPECT_THAT(Refusal(*v, "aaaa.bbbb.cccc"), HasSubstr("header is not base64url-encoded JSON"));
  EXPECT_THAT(Refusal(*v, testing::B64Url("{\"typ\":\"JWT\"}") + ".e30.c2ln"),
              HasSubstr("header has no alg"));
  EXPECT_THAT(Refusal(*v, testing::B64Url("{\"alg\":\"HS256\"}") + "." + testing::B64Url("[1,2]") +
                              ".c2ln"),
              HasSubstr("payload is not a JSON object"));
  EXPECT_THAT(Refusal(*v, testing::B64Url("{\"alg\":\"HS256\"}") + ".e30."),
              HasSubstr("no signature"));
  EXPECT_THAT(Refusal(*v, testing::B64Url("{\"alg\":\"ES256\"}") + ".e30.c2ln"),
              HasSubstr("alg \"ES256\" is not accepted (configured: HS256, RS256)"));
}

TEST_F(JwtVerifierTest, BadKeyFilesAreRefusedAtCreate) {
  JwtVerifier::Options o;
  EXPECT_EQ(JwtVerifier::Create(o).status().code(), absl::StatusCode::kFailedPrecondition);
  o.hs256_secret_file = dir_.Write("short", "too-short\n");
  EXPECT_THAT(std::string(JwtVerifier::Create(o).status().message()),
              HasSubstr("is 9 bytes; at least 32 are needed"));
  o.hs256_secret_file = dir_.path() + "/missing";
  EXPECT_THAT(std::string(JwtVerifier::Create(o).status().message()), HasSubstr("missing"));
  o.hs256_secret_file.clear();
  o.rs256_public_key_file = dir_.Write("priv.pem", rsa_->private_pem);
  EXPECT_THAT(std::string(JwtVerifier::Create(o).status().message()),
              HasSubstr("is not a PEM public key"));
  o.rs256_public_key_file = dir_.Write("small.pem", testing::MakeRsaKeyPair(1024).public_pem);
  EXPECT_THAT(std::string(JwtVerifier::Create(o).status().message()),
              HasSubstr("1024-bit RSA key; at least 2048"));
}

}  // namespace
}  // namespace stoa::gateway::auth
