#include "cluster/member_set_executor.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace stoa::cluster {

MemberSetExecutor::MemberSetExecutor(std::string target, std::vector<std::string> fixed,
                                     executors::GrpcExecutor::Options grpc_options)
    : target_(std::move(target)),
      fixed_(std::move(fixed)),
      grpc_options_(grpc_options),
      pool_(std::vector<executors::ExecutorPtr>(), executors::PoolExecutor::Options()) {
  SetMembers("", {});
}

MemberSetExecutor::~MemberSetExecutor() = default;

void MemberSetExecutor::SetMembers(const std::string& source, const std::vector<Member>& members) {
  std::set<std::string> wanted(fixed_.begin(), fixed_.end());
  absl::MutexLock lock(&mu_);
  auto& mine = by_source_[source];
  mine.clear();
  for (const Member& m : members) mine.push_back(m.address);
  for (const auto& [s, addresses] : by_source_) wanted.insert(addresses.begin(), addresses.end());
  if (wanted == addresses_) return;
  // In place: members that stay keep their health, warm functions and
  // channel (executors/pool_executor.h).
  for (const std::string& address : addresses_) {
    if (!wanted.contains(address)) {
      pool_.RemoveMember("grpc:" + address);  // GrpcExecutor::Describe()
    }
  }
  for (const std::string& address : wanted) {
    if (!addresses_.contains(address)) {
      pool_.AddMember(std::make_unique<executors::GrpcExecutor>(address, grpc_options_));
    }
  }
  addresses_ = wanted;
  spdlog::info("target {}: {} members [{}]", target_, wanted.size(), absl::StrJoin(wanted, ","));
}

std::vector<std::string> MemberSetExecutor::Addresses() const {
  absl::MutexLock lock(&mu_);
  return {addresses_.begin(), addresses_.end()};
}

absl::Status MemberSetExecutor::NoMembers() const {
  return absl::UnavailableError(absl::StrCat("target ", target_, " has no members"));
}

void MemberSetExecutor::Invoke(v1::InvokeRequest request, executors::InvokeCallback done,
                               executors::CancelSignalPtr cancel) {
  if (pool_.size() == 0) return done(NoMembers());
  pool_.Invoke(std::move(request), std::move(done), std::move(cancel));
}

void MemberSetExecutor::LoadFunction(v1::LoadFunctionRequest request,
                                     executors::LoadCallback done) {
  if (pool_.size() == 0) return done(NoMembers());
  pool_.LoadFunction(std::move(request), std::move(done));
}

void MemberSetExecutor::UnloadFunction(v1::UnloadFunctionRequest request,
                                       executors::UnloadCallback done) {
  if (pool_.size() == 0) return done(v1::UnloadFunctionResponse());
  pool_.UnloadFunction(std::move(request), std::move(done));
}

void MemberSetExecutor::GetStatus(executors::StatusCallback done) {
  if (pool_.size() == 0) return done(NoMembers());
  pool_.GetStatus(std::move(done));
}

std::string MemberSetExecutor::Describe() const {
  return absl::StrCat("target ", target_, "[", absl::StrJoin(Addresses(), ","), "]");
}

}  // namespace stoa::cluster
