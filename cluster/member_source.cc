#include "cluster/member_source.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "spdlog/spdlog.h"

namespace stoa::cluster {

MemberWatcher::MemberWatcher(EtcdClient& client, MembersCallback on_change)
    : on_change_(std::move(on_change)),
      watch_(client, std::string(kMembersPrefix),
             [this](const KeySet& keys, int64_t) { Apply(keys); }) {}

void MemberWatcher::Apply(const KeySet& keys) {
  std::map<std::string, std::vector<Member>> now;
  for (const auto& [key, kv] : keys) {
    auto member = DecodeMember(key, kv.value);
    if (!member.ok()) {
      spdlog::warn("ignoring {}", std::string(member.status().message()));
      continue;
    }
    now[member->target].push_back(*std::move(member));
  }
  auto same = [](const std::vector<Member>& a, const std::vector<Member>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Member& x, const Member& y) {
      return x.address == y.address && x.device == y.device && x.capacity == y.capacity;
    });
  };
  for (const auto& [target, members] : now) {
    auto it = last_.find(target);
    if (it == last_.end() || !same(it->second, members)) on_change_(target, members);
  }
  for (const auto& [target, members] : last_) {
    if (!now.contains(target)) on_change_(target, {});
  }
  last_ = std::move(now);
}

bool IsDnsTarget(const std::string& target) { return target.rfind("dns:///", 0) == 0; }

absl::StatusOr<std::pair<std::string, uint16_t>> ParseDnsTarget(const std::string& target) {
  if (!IsDnsTarget(target)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", target, "' is not a dns:///NAME:PORT target"));
  }
  auto hp = common::ParseHostPort(target.substr(7));
  if (!hp.ok() || hp->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", target, "': expected dns:///NAME:PORT with a port above 0"));
  }
  return std::pair{hp->host, hp->port};
}

absl::StatusOr<std::vector<std::string>> ResolveAll(const std::string& name, uint16_t port) {
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(name.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolving '", name, "': ", gai_strerror(rc)));
  }
  std::set<std::string> addresses;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char host[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) ==
        0) {
      addresses.insert(common::FormatHostPort(host, port));
    }
  }
  freeaddrinfo(found);
  return std::vector<std::string>(addresses.begin(), addresses.end());
}

DnsMembers::DnsMembers(std::string target, std::string dns_target, Options options,
                       MembersCallback on_change)
    : target_(std::move(target)),
      dns_target_(std::move(dns_target)),
      options_(options),
      on_change_(std::move(on_change)) {}

DnsMembers::~DnsMembers() { Stop(); }

void DnsMembers::Start() {
  thread_ = std::thread([this] { Run(); });
}

void DnsMembers::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void DnsMembers::Run() {
  auto parsed = ParseDnsTarget(dns_target_);
  if (!parsed.ok()) return;
  std::vector<std::string> last;
  bool first = true;
  while (true) {
    auto addresses = ResolveAll(parsed->first, parsed->second);
    if (!addresses.ok()) {
      spdlog::warn("{}: {}; keeping {} members", dns_target_,
                   std::string(addresses.status().message()), last.size());
    } else if (first || *addresses != last) {
      first = false;
      last = *std::move(addresses);
      std::vector<Member> members;
      for (const std::string& a : last) {
        members.push_back(Member{.target = target_, .address = a, .device = "", .capacity = 0});
      }
      on_change_(target_, members);
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(options_.interval_ms));
    if (stopping_) return;
  }
}

}  // namespace stoa::cluster
