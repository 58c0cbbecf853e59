#include "gateway/auth/authenticator.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway::auth {
namespace {

constexpr char kFilePrefix[] = "file:";
constexpr char kJwtPrefix[] = "jwt:";
constexpr char kMissingCredentials[] = "type.stoa.dev/auth-missing-credentials";

absl::Status Unauthenticated(std::string_view message) {
  return absl::UnauthenticatedError(std::string(message));
}

std::optional<struct stat> Stat(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

JwtVerifier::Options VerifierOptions(const Authenticator::Options& o) {
  JwtVerifier::Options v;
  v.hs256_secret_file = o.jwt_hs256_secret_file;
  v.rs256_public_key_file = o.jwt_rs256_public_key;
  v.issuer = o.jwt_issuer;
  v.audience = o.jwt_audience;
  v.leeway_s = o.jwt_leeway_s;
  return v;
}

}  // namespace

Authenticator::Authenticator(Options options, common::metrics::Registry* registry)
    : options_(std::move(options)),
      enabled_(!options_.auth_file.empty() || !options_.jwt_hs256_secret_file.empty() ||
               !options_.jwt_rs256_public_key.empty()),
      clock_(options_.clock ? *options_.clock : common::RealClock::Get()),
      limiter_(clock_),
      table_(std::make_shared<AuthTable>()) {
  if (registry == nullptr) {
    own_registry_ = std::make_unique<common::metrics::Registry>();
    registry = own_registry_.get();
  }
  auto& reloads = registry->AddCounter("stoa_auth_reloads_total",
                                       "Reloads of the auth file and JWT keys, by outcome.");
  reloads_ok_ = reloads.Add({{"outcome", "ok"}});
  reloads_error_ = reloads.Add({{"outcome", "error"}});
  auto& limited = registry->AddCounter("stoa_auth_rate_limited_total",
                                       "Requests refused by a per-identity rate limit, by role.");
  for (Role role : {Role::kAdmin, Role::kDeveloper, Role::kOperator, Role::kInvoker}) {
    rate_limited_[static_cast<size_t>(role)] = limited.Add({{"role", std::string(RoleName(role))}});
  }
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    Options options, common::metrics::Registry* registry) {
  std::unique_ptr<Authenticator> auth(new Authenticator(std::move(options), registry));
  {
    absl::MutexLock lock(&auth->reload_mu_);
    if (!auth->options_.auth_file.empty()) RETURN_IF_ERROR(auth->ReloadFile());
    RETURN_IF_ERROR(auth->ReloadKeys());
  }
  if (!auth->options_.auth_file.empty() && auth->options_.watch_interval_ms > 0) {
    auth->watcher_ = std::thread([a = auth.get()] { a->Watch(); });
  }
  return auth;
}

Authenticator::~Authenticator() {
  {
    absl::MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (watcher_.joinable()) watcher_.join();
}

std::shared_ptr<const AuthTable> Authenticator::table() const {
  absl::ReaderMutexLock lock(&mu_);
  return table_;
}

std::shared_ptr<const JwtVerifier> Authenticator::jwt() const {
  absl::ReaderMutexLock lock(&mu_);
  return jwt_;
}

size_t Authenticator::identities() const { return table()->entries.size(); }

Authenticator::FileStamp Authenticator::StampOf(const struct stat& st) {
  return FileStamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                   static_cast<uint64_t>(st.st_size),
                   int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

absl::Status Authenticator::ReloadFile() {
  // The stamp is taken before reading, so a write racing the read shows up
  // as another change and is read again.
  if (auto st = Stat(options_.auth_file)) stamp_ = StampOf(*st);
  ASSIGN_OR_RETURN(AuthTable loaded, LoadAuthFile(options_.auth_file));
  auto fresh = std::make_shared<const AuthTable>(std::move(loaded));
  absl::flat_hash_set<std::string> keep;
  for (const auto& entry : fresh->entries) keep.insert(kFilePrefix + entry.identity.name);
  {
    absl::MutexLock lock(&mu_);
    table_ = fresh;
  }
  limiter_.Retain(kFilePrefix, keep);
  return absl::OkStatus();
}

absl::Status Authenticator::ReloadKeys() {
  if (options_.jwt_hs256_secret_file.empty() && options_.jwt_rs256_public_key.empty()) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<JwtVerifier> verifier,
                   JwtVerifier::Create(VerifierOptions(options_)));
  absl::MutexLock lock(&mu_);
  jwt_ = std::move(verifier);
  return absl::OkStatus();
}

absl::Status Authenticator::Reload() {
  absl::MutexLock lock(&reload_mu_);
  absl::Status file = options_.auth_file.empty() ? absl::OkStatus() : ReloadFile();
  absl::Status keys = ReloadKeys();
  absl::Status result = file.ok() ? keys : file;
  if (result.ok()) {
    reloads_ok_->Increment();
    spdlog::info("auth reloaded: {} identities in the auth file", identities());
  } else {
    reloads_error_->Increment();
    spdlog::error("auth reload failed, keeping what was in force: {}",
                  std::string(result.message()));
  }
  return result;
}

void Authenticator::Watch() {
  const absl::Duration interval = absl::Milliseconds(options_.watch_interval_ms);
  // A change is acted on once the file has looked the same for one interval,
  // so a file rewritten in place is not read half-written (or empty, which
  // would be a valid file that lets no one in).
  std::optional<FileStamp> pending;
  for (;;) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stop_mu_.AwaitWithTimeout(absl::Condition(&stop_), interval)) return;
    }
    auto st = Stat(options_.auth_file);
    if (!st) continue;  // being replaced, or gone: keep the table, look again
    const FileStamp now = StampOf(*st);
    absl::MutexLock lock(&reload_mu_);
    if (now == stamp_) continue;
    if (pending != now) {
      pending = now;
      continue;
    }
    absl::Status status = ReloadFile();
    if (status.ok()) {
      reloads_ok_->Increment();
      spdlog::info("auth file {} changed and was reloaded: {} identities", options_.auth_file,
                   identities());
    } else {
      reloads_error_->Increment();
      spdlog::error("auth file changed but was not reloaded, keeping the previous one: {}",
                    std::string(status.message()));
    }
  }
}

absl::StatusOr<Identity> Authenticator::Authenticate(const common::HttpRequest& request) const {
  if (!enabled_) return Identity{"anonymous", Role::kAdmin, "", {}, "none", {}};
  const auto count = request.headers.count("authorization");
  if (count > 1) return Unauthenticated("more than one Authorization header");
  if (count == 1) {
    const std::string value = request.Header("authorization");
    if (value.size() < 7 || !absl::StartsWithIgnoreCase(value, "bearer ")) {
      return Unauthenticated("the Authorization header must be \"Bearer <token>\"");
    }
    const std::string token(absl::StripAsciiWhitespace(absl::string_view(value).substr(7)));
    if (token.empty()) return Unauthenticated("the bearer token is empty");
    return FromBearer(token);
  }
  if (!request.peer_names.empty()) return FromCertificate(request.peer_names);
  absl::Status missing = Unauthenticated("no credentials: send Authorization: Bearer <token>");
  missing.SetPayload(kMissingCredentials, absl::Cord("1"));
  return missing;
}

absl::StatusOr<Identity> Authenticator::FromBearer(std::string_view token) const {
  auto table = this->table();
  const std::string digest = common::Sha256Hex(token);
  auto it = table->by_sha256.find(digest);
  if (it != table->by_sha256.end()) {
    Identity identity = table->entries[it->second].identity;
    identity.source = "token";
    return identity;
  }
  if (!JwtVerifier::LooksLikeJwt(token)) return Unauthenticated("the bearer token is not known");
  auto verifier = jwt();
  if (verifier == nullptr) {
    return Unauthenticated("the bearer token looks like a JWT, but no JWT key is configured");
  }
  const int64_t now = options_.unix_now ? options_.unix_now() : absl::ToUnixSeconds(absl::Now());
  ASSIGN_OR_RETURN(Identity identity, verifier->Verify(token, now, digest));
  identity.rate_limit = table->RoleLimit(identity.role);
  return identity;
}

absl::StatusOr<Identity> Authenticator::FromCertificate(
    const std::vector<std::string>& names) const {
  auto table = this->table();
  for (const auto& name : names) {
    auto it = table->by_certificate.find(name);
    if (it == table->by_certificate.end()) continue;
    Identity identity = table->entries[it->second].identity;
    identity.source = "certificate";
    return identity;
  }
  return Unauthenticated(absl::StrCat("the client certificate (CN \"",
                                      absl::CHexEscape(names.front().substr(0, 128)),
                                      "\") stands for no identity in the auth file"));
}

absl::Status Authenticator::Charge(const Identity& identity) {
  if (identity.source == "none" || !identity.rate_limit.limited()) return absl::OkStatus();
  const std::string key =
      absl::StrCat(identity.source == "jwt" ? kJwtPrefix : kFilePrefix, identity.name);
  absl::Status status = limiter_.Charge(key, identity.rate_limit);
  if (!status.ok()) rate_limited_[static_cast<size_t>(identity.role)]->Increment();
  return status;
}

std::string WwwAuthenticate(const absl::Status& status) {
  if (status.GetPayload(kMissingCredentials).has_value()) return "Bearer realm=\"stoa\"";
  return "Bearer realm=\"stoa\", error=\"invalid_token\"";
}

}  // namespace stoa::gateway::auth
