#include "cluster/target_membership.h"

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "spdlog/spdlog.h"

namespace stoa::cluster {

bool NeedsMembership(const std::vector<std::string>& entries, bool have_etcd) {
  if (have_etcd) return true;
  for (const std::string& e : entries) {
    if (IsDnsTarget(e)) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<TargetMembership>> TargetMembership::Start(
    const std::string& target, const std::vector<std::string>& entries, EtcdClient* etcd,
    executors::GrpcExecutor::Options grpc_options, Options options) {
  std::vector<std::string> fixed;
  std::vector<std::string> dns;
  for (const std::string& e : entries) {
    if (IsDnsTarget(e)) {
      if (auto parsed = ParseDnsTarget(e); !parsed.ok()) return parsed.status();
      dns.push_back(e);
    } else {
      fixed.push_back(e);
    }
  }
  std::unique_ptr<TargetMembership> m(new TargetMembership());
  m->target_ = target;
  m->set_ = std::make_shared<MemberSetExecutor>(target, fixed, grpc_options);
  for (const std::string& d : dns) {
    auto source = std::make_unique<DnsMembers>(
        target, d, DnsMembers::Options{.interval_ms = options.dns_interval_ms},
        [set = m->set_, d](const std::string&, const std::vector<Member>& members) {
          set->SetMembers(d, members);
        });
    source->Start();
    m->dns_.push_back(std::move(source));
  }
  if (etcd != nullptr) {
    m->watcher_ = std::make_unique<MemberWatcher>(
        *etcd, [set = m->set_, target](const std::string& t, const std::vector<Member>& members) {
          if (t == target) {
            set->SetMembers("etcd", members);
          } else {
            spdlog::info("members of target {} announced; this gateway serves only target {}", t,
                         target);
          }
        });
    m->watcher_->Start();
  }
  return m;
}

TargetMembership::~TargetMembership() { Stop(); }

void TargetMembership::Stop() {
  for (auto& d : dns_) d->Stop();
  if (watcher_) watcher_->Stop();
}

}  // namespace stoa::cluster
