// What authentication costs per request (gateway/auth): an opaque bearer
// token (SHA-256 + hash lookup), an RS256 and an HS256 JWT through the
// Authenticator (verified once, then from the cache), the same JWTs verified
// every time (cache off), a forged RS256 JWT, and one rate-limit charge.
//
//   build/release/bin/stoa-bench-auth --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/sha256.h"
#include "gateway/auth/authenticator.h"
#include "gateway/auth/jwt_verifier.h"
#include "tests/fakes/gateway/jwt_signer.h"

namespace stoa::gateway::auth {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-hs256";

struct Fixture {
  Fixture() {
    dir = std::filesystem::temp_directory_path() / ("stoa_auth_bench_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    keys = testing::MakeRsaKeyPair();
    Write("auth.yaml",
          "rate_limits:\n  invoker: {per_second: 1e9, burst: 1e9}\ntokens:\n"
          "  - {name: ops, sha256: " +
              common::Sha256Hex("opaque-token-0123456789") + ", role: invoker}\n");
    Write("secret", kSecret);
    Write("pub.pem", keys.public_pem);
    const int64_t exp = absl::ToUnixSeconds(absl::Now()) + 3600;
    nlohmann::json claims = {{"sub", "alice"}, {"role", "invoker"}, {"exp", exp}};
    rs256 = testing::SignJwt(claims, JWT_ALG_RS256, keys.private_pem);
    hs256 = testing::SignJwt(claims, JWT_ALG_HS256, kSecret);
    Authenticator::Options o;
    o.auth_file = Path("auth.yaml");
    o.jwt_hs256_secret_file = Path("secret");
    o.jwt_rs256_public_key = Path("pub.pem");
    o.watch_interval_ms = 0;
    auth = *Authenticator::Create(o, &registry);
    JwtVerifier::Options v;
    v.hs256_secret_file = o.jwt_hs256_secret_file;
    v.rs256_public_key_file = o.jwt_rs256_public_key;
    v.cache_entries = 0;
    uncached = *JwtVerifier::Create(v);
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
  std::string Path(const std::string& name) const { return (dir / name).string(); }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
  }

  std::filesystem::path dir;
  testing::RsaKeyPair keys;
  std::string rs256, hs256;
  common::metrics::Registry registry;
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<JwtVerifier> uncached;
};

Fixture& F() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

common::HttpRequest Bearer(const std::string& token) {
  common::HttpRequest r;
  r.headers.emplace("authorization", "Bearer " + token);
  return r;
}

void BM_AuthenticateOpaqueToken(benchmark::State& state) {
  const auto request = Bearer("opaque-token-0123456789");
  F();  // keys and files made outside the timing
  for (auto _ : state) benchmark::DoNotOptimize(F().auth->Authenticate(request));
}
BENCHMARK(BM_AuthenticateOpaqueToken);

void BM_AuthenticateRs256JwtCached(benchmark::State& state) {
  const auto request = Bearer(F().rs256);
  for (auto _ : state) benchmark::DoNotOptimize(F().auth->Authenticate(request));
}
BENCHMARK(BM_AuthenticateRs256JwtCached);

void BM_AuthenticateHs256JwtCached(benchmark::State& state) {
  const auto request = Bearer(F().hs256);
  for (auto _ : state) benchmark::DoNotOptimize(F().auth->Authenticate(request));
}
BENCHMARK(BM_AuthenticateHs256JwtCached);

void BM_VerifyRs256JwtUncached(benchmark::State& state) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  for (auto _ : state) benchmark::DoNotOptimize(F().uncached->Verify(F().rs256, now));
}
BENCHMARK(BM_VerifyRs256JwtUncached);

void BM_VerifyHs256JwtUncached(benchmark::State& state) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  for (auto _ : state) benchmark::DoNotOptimize(F().uncached->Verify(F().hs256, now));
}
BENCHMARK(BM_VerifyHs256JwtUncached);

// A token whose signature is not the key's: refused before libjwt runs.
void BM_VerifyRs256JwtForged(benchmark::State& state) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  std::string forged = F().rs256;
  forged[forged.size() - 10] = forged[forged.size() - 10] == 'A' ? 'B' : 'A';
  for (auto _ : state) benchmark::DoNotOptimize(F().uncached->Verify(forged, now));
}
BENCHMARK(BM_VerifyRs256JwtForged);

void BM_Charge(benchmark::State& state) {
  auto id = *F().auth->Authenticate(Bearer("opaque-token-0123456789"));
  for (auto _ : state) benchmark::DoNotOptimize(F().auth->Charge(id));
}
BENCHMARK(BM_Charge)->Threads(1)->Threads(4);

}  // namespace
}  // namespace stoa::gateway::auth

BENCHMARK_MAIN();
