#include "cluster/member_set_executor.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace stoa::cluster {

MemberSetExecutor::MemberSetExecutor(std::string target, std::vector<std::string> fixed,
                                     executors::GrpcExecutor::Options grpc_options)
    : target_(std::move(target)), fixed_(std::move(fixed)), grpc_options_(grpc_options) {
  SetMembers("", {});
}

MemberSetExecutor::~MemberSetExecutor() {
  absl::MutexLock lock(&mu_);
  pool_.reset();
  retired_.clear();
}

void MemberSetExecutor::SetMembers(const std::string& source, const std::vector<Member>& members) {
  std::set<std::string> wanted(fixed_.begin(), fixed_.end());
  std::vector<std::shared_ptr<executors::PoolExecutor>> to_destroy;
  {
    absl::MutexLock lock(&mu_);
    auto& mine = by_source_[source];
    mine.clear();
    for (const Member& m : members) mine.push_back(m.address);
    for (const auto& [s, addresses] : by_source_) wanted.insert(addresses.begin(), addresses.end());
    if (pool_ && wanted.size() == members_.size() &&
        std::equal(wanted.begin(), wanted.end(), members_.begin(),
                   [](const std::string& a, const auto& m) { return a == m.first; })) {
      return;  // same set: keep the pool and its health
    }
    std::map<std::string, std::shared_ptr<executors::Executor>> next;
    for (const std::string& address : wanted) {
      auto it = members_.find(address);
      next[address] = it != members_.end()
                          ? it->second
                          : std::make_shared<executors::GrpcExecutor>(address, grpc_options_);
    }
    members_ = std::move(next);
    if (pool_) retired_.push_back(std::move(pool_));
    if (!members_.empty()) {
      std::vector<executors::ExecutorPtr> pool_members;
      for (const auto& [address, e] : members_) {
        pool_members.push_back(std::make_unique<SharedExecutor>(e));
      }
      pool_ = std::make_shared<executors::PoolExecutor>(std::move(pool_members));
    }
    // A retired pool nobody else holds has no call in flight: destroy it
    // outside the lock.
    auto idle = std::partition(retired_.begin(), retired_.end(),
                               [](const auto& p) { return p.use_count() > 1; });
    to_destroy.assign(std::make_move_iterator(idle), std::make_move_iterator(retired_.end()));
    retired_.erase(idle, retired_.end());
  }
  spdlog::info("target {}: {} members [{}]", target_, wanted.size(), absl::StrJoin(wanted, ","));
}

std::vector<std::string> MemberSetExecutor::Addresses() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [address, e] : members_) out.push_back(address);
  return out;
}

std::shared_ptr<executors::PoolExecutor> MemberSetExecutor::Current() const {
  absl::MutexLock lock(&mu_);
  return pool_;
}

absl::Status MemberSetExecutor::NoMembers() const {
  return absl::UnavailableError(absl::StrCat("target ", target_, " has no members"));
}

void MemberSetExecutor::Invoke(v1::InvokeRequest request, executors::InvokeCallback done,
                               executors::CancelSignalPtr cancel) {
  auto pool = Current();
  if (!pool) return done(NoMembers());
  // The callback holds the pool so a swap does not destroy it mid-call.
  executors::PoolExecutor* raw = pool.get();
  raw->Invoke(
      std::move(request),
      [pool = std::move(pool), done = std::move(done)](
          absl::StatusOr<v1::InvokeResponse> r) mutable { done(std::move(r)); },
      std::move(cancel));
}

void MemberSetExecutor::LoadFunction(v1::LoadFunctionRequest request,
                                     executors::LoadCallback done) {
  auto pool = Current();
  if (!pool) return done(NoMembers());
  executors::PoolExecutor* raw = pool.get();
  raw->LoadFunction(std::move(request), [pool = std::move(pool), done = std::move(done)](
                                            absl::StatusOr<v1::LoadFunctionResponse> r) mutable {
    done(std::move(r));
  });
}

void MemberSetExecutor::UnloadFunction(v1::UnloadFunctionRequest request,
                                       executors::UnloadCallback done) {
  auto pool = Current();
  if (!pool) return done(v1::UnloadFunctionResponse());
  executors::PoolExecutor* raw = pool.get();
  raw->UnloadFunction(
      std::move(request),
      [pool = std::move(pool), done = std::move(done)](
          absl::StatusOr<v1::UnloadFunctionResponse> r) mutable { done(std::move(r)); });
}

void MemberSetExecutor::GetStatus(executors::StatusCallback done) {
  auto pool = Current();
  if (!pool) return done(NoMembers());
  executors::PoolExecutor* raw = pool.get();
  raw->GetStatus([pool = std::move(pool), done = std::move(done)](
                     absl::StatusOr<v1::GetStatusResponse> r) mutable { done(std::move(r)); });
}

std::string MemberSetExecutor::Describe() const {
  return absl::StrCat("target ", target_, "[", absl::StrJoin(Addresses(), ","), "]");
}

}  // namespace stoa::cluster
