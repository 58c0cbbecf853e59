// MemberSetExecutor: one target whose members come and go (announced in
// etcd, or a re-resolved dns:/// name), served to the dispatcher as one
// Executor. It holds one PoolExecutor (executors/pool_executor.h) for its
// whole life and, on SetMembers, adds and removes members in place: a
// member that stays keeps its health (down marks, service and load means),
// the functions warm on it and its GrpcExecutor (its channel); a removed
// member's calls in flight finish. A new member has no functions loaded:
// the pool loads a function it knows there on its first call.
//
// This is the seam to the pools of named targets: SetMembers(target's
// members) is all a membership source needs from a pool.
//
// With no member: Invoke, LoadFunction, GetStatus answer UNAVAILABLE naming
// the target ("target cloud has no members").
//
// Thread safety: all methods may be called concurrently. SetMembers calls
// are serialized. Lifetime: a removed member is destroyed by a later
// SetMembers (or the destructor) once no call holds it.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cluster/keys.h"
#include "executors/executor.h"
#include "executors/grpc_executor.h"
#include "executors/pool_executor.h"

namespace stoa::cluster {

// An Executor that forwards to a shared one (a pool member kept across
// swaps, or a handle the dispatcher owns while membership keeps the target).
class SharedExecutor final : public executors::Executor {
 public:
  explicit SharedExecutor(std::shared_ptr<executors::Executor> e) : e_(std::move(e)) {}
  using Executor::Invoke;
  void Invoke(v1::InvokeRequest request, executors::InvokeCallback done,
              executors::CancelSignalPtr cancel) override {
    e_->Invoke(std::move(request), std::move(done), std::move(cancel));
  }
  void LoadFunction(v1::LoadFunctionRequest request, executors::LoadCallback done) override {
    e_->LoadFunction(std::move(request), std::move(done));
  }
  void UnloadFunction(v1::UnloadFunctionRequest request, executors::UnloadCallback done) override {
    e_->UnloadFunction(std::move(request), std::move(done));
  }
  void GetStatus(executors::StatusCallback done) override { e_->GetStatus(std::move(done)); }
  std::string Describe() const override { return e_->Describe(); }

 private:
  const std::shared_ptr<executors::Executor> e_;
};

class MemberSetExecutor final : public executors::Executor {
 public:
  // `fixed`: addresses always in the set (e.g. the --cloud list).
  MemberSetExecutor(std::string target, std::vector<std::string> fixed,
                    executors::GrpcExecutor::Options grpc_options);
  ~MemberSetExecutor() override;

  // Replaces the members that came from `source` ("etcd", "dns:///…"); the
  // set served is the union of every source and the fixed addresses.
  void SetMembers(const std::string& source, const std::vector<Member>& members);
  // The addresses now served, sorted.
  std::vector<std::string> Addresses() const;
  // The pool, e.g. for its members' health (PoolExecutor::Members).
  const executors::PoolExecutor& pool() const { return pool_; }

  using Executor::Invoke;
  void Invoke(v1::InvokeRequest request, executors::InvokeCallback done,
              executors::CancelSignalPtr cancel) override;
  void LoadFunction(v1::LoadFunctionRequest request, executors::LoadCallback done) override;
  void UnloadFunction(v1::UnloadFunctionRequest request, executors::UnloadCallback done) override;
  void GetStatus(executors::StatusCallback done) override;
  std::string Describe() const override;

 private:
  absl::Status NoMembers() const;

  const std::string target_;
  const std::vector<std::string> fixed_;
  const executors::GrpcExecutor::Options grpc_options_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<std::string>> by_source_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> addresses_ ABSL_GUARDED_BY(mu_);  // the pool's members
  executors::PoolExecutor pool_;
};

}  // namespace stoa::cluster
