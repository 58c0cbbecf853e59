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
    const std::vector<Target>& targets, EtcdClient* etcd,
    executors::GrpcExecutor::Options grpc_options, Options options) {
  std::unique_ptr<TargetMembership> m(new TargetMembership());
  std::vector<std::pair<std::string, std::string>> dns;  // {target, entry}
  for (const Target& target : targets) {
    std::vector<std::string> fixed;
    for (const std::string& e : target.entries) {
      if (!IsDnsTarget(e)) {
        fixed.push_back(e);
      } else if (auto parsed = ParseDnsTarget(e); !parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("target ", target.name, ": ", parsed.status().message()));
      } else {
        dns.emplace_back(target.name, e);
      }
    }
    m->sets_[target.name] = std::make_shared<MemberSetExecutor>(target.name, fixed, grpc_options);
  }
  for (const auto& [name, entry] : dns) {
    auto source = std::make_unique<DnsMembers>(
        name, entry, DnsMembers::Options{.interval_ms = options.dns_interval_ms},
        [set = m->sets_[name], entry](const std::string&, const std::vector<Member>& members) {
          set->SetMembers(entry, members);
        });
    source->Start();
    m->dns_.push_back(std::move(source));
  }
  if (etcd != nullptr) {
    // The watcher stops (Stop, the destructor) before sets_ goes.
    m->watcher_ = std::make_unique<MemberWatcher>(
        *etcd, [self = m.get()](const std::string& t, const std::vector<Member>& members) {
          self->OnAnnounced(t, members);
        });
    m->watcher_->Start();
  }
  return m;
}

void TargetMembership::OnAnnounced(const std::string& target, const std::vector<Member>& members) {
  auto it = sets_.find(target);
  if (it != sets_.end()) {
    it->second->SetMembers("etcd", members);
  } else if (ignored_.insert(target).second) {
    spdlog::warn(
        "members announced for target {}, which this gateway does not declare: ignored (declare "
        "it with --target {}=TIER:DEVICE: to use them)",
        target, target);
  }
}

executors::ExecutorPtr TargetMembership::Executor(const std::string& name) const {
  auto it = sets_.find(name);
  if (it == sets_.end()) return nullptr;
  return std::make_unique<SharedExecutor>(it->second);
}

const MemberSetExecutor* TargetMembership::members(const std::string& name) const {
  auto it = sets_.find(name);
  return it == sets_.end() ? nullptr : it->second.get();
}

TargetMembership::~TargetMembership() { Stop(); }

void TargetMembership::Stop() {
  for (auto& d : dns_) d->Stop();
  if (watcher_) watcher_->Stop();
}

}  // namespace stoa::cluster
