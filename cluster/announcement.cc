#include "cluster/announcement.h"

#include <unistd.h>

#include <climits>

#include "absl/strings/str_cat.h"
#include "cluster/member_source.h"
#include "common/host_port.h"
#include "spdlog/spdlog.h"

namespace stoa::cluster {
namespace {

// This host's own address for a wildcard listener: the first address its
// host name resolves to that is not loopback (in a Kubernetes pod, the pod
// IP from /etc/hosts).
absl::StatusOr<std::string> OwnAddress(uint16_t port) {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return absl::InternalError("gethostname failed");
  auto addresses = ResolveAll(name, port);
  if (!addresses.ok()) return addresses.status();
  for (const std::string& a : *addresses) {
    if (a.rfind("127.", 0) != 0 && a.rfind("[::1]", 0) != 0) return a;
  }
  return absl::NotFoundError(absl::StrCat("host name '", name, "' has no non-loopback address"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Announcement>> Announcement::Start(const AnnounceConfig& config) {
  if (auto s = ValidateTargetName(config.target); !s.ok()) return s;
  std::string address = config.advertise.empty() ? config.bound : config.advertise;
  auto hp = common::ParseHostPort(address);
  if (!hp.ok() || hp->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--advertise: '", address, "' is not HOST:PORT (a unix: listener needs it)"));
  }
  if (hp->host == "0.0.0.0" || hp->host == "::") {
    auto own = OwnAddress(hp->port);
    if (!own.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--announce: the bound address ", address, " is not one a gateway can dial (",
          own.status().message(), "): give --advertise HOST:PORT"));
    }
    address = *own;
  }
  if (config.ttl_s < 1) return absl::InvalidArgumentError("--announce-ttl-s must be at least 1");
  auto client = EtcdClient::Connect(config.etcd_url);
  if (!client.ok()) return client.status();
  std::unique_ptr<Announcement> a(new Announcement());
  a->client_ = *std::move(client);
  a->announcer_ =
      std::make_unique<MemberAnnouncer>(*a->client_,
                                        Member{.target = config.target,
                                               .address = address,
                                               .device = config.device,
                                               .capacity = config.capacity},
                                        MemberAnnouncer::Options{.ttl_s = config.ttl_s});
  a->announcer_->Start();
  return a;
}

Announcement::~Announcement() { Stop(); }

void Announcement::Withdraw() {
  if (auto s = announcer_->Withdraw(); !s.ok()) {
    spdlog::warn("drain: {} (the lease expiry removes the member instead)",
                 std::string(s.message()));
  }
}

void Announcement::Stop() {
  if (announcer_) announcer_->Stop();
}

}  // namespace stoa::cluster
