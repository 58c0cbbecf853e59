// FakeControlPlane: functions and policies kept in memory, as the REST
// layer sees them. Register stores what it is given (version 1, then +1 on
// replace; sha256 "sha-<name>-<version>"; the signature the test set with
// SetSignature), or fails with the scripted error; the rules the REST layer
// relies on hold (ALREADY_EXISTS without replace, NOT_FOUND for unknown
// names).
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/file_util.h"
#include "gateway/control_plane.h"

namespace stoa::gateway {

class FakeControlPlane final : public ControlPlane {
 public:
  absl::StatusOr<Registered> Register(Registration reg, bool replace) override {
    absl::MutexLock lock(&mu_);
    if (!register_error_.ok()) return register_error_;
    auto it = functions_.find(reg.spec.name());
    if (it != functions_.end() && !replace) {
      return absl::AlreadyExistsError(absl::StrCat("function '", reg.spec.name(), "' exists"));
    }
    const uint64_t version = it == functions_.end() ? 1 : it->second.spec.version() + 1;
    reg.spec.set_version(version);
    reg.spec.set_sha256(absl::StrCat("sha-", reg.spec.name(), "-", version));
    *reg.spec.mutable_inputs() = inputs_;
    StoredFunction stored{reg.spec, "", 0};
    if (reg.artifact.file != nullptr) {
      stored.artifact_size = reg.artifact.file->size();
      auto bytes = common::ReadFile(reg.artifact.file->path());
      last_artifact_ = bytes.ok() ? *bytes : "";
    }
    const bool created = it == functions_.end();
    functions_[reg.spec.name()] = stored;
    return Registered{reg.spec, created};
  }
  absl::Status Delete(const std::string& name, const Precondition& precondition) override {
    absl::MutexLock lock(&mu_);
    auto it = functions_.find(name);
    if (it == functions_.end()) return NotFound(name);
    if (precondition) {
      if (auto s = precondition(it->second.spec); !s.ok()) return s;
    }
    functions_.erase(it);
    function_policies_.erase(name);
    return absl::OkStatus();
  }
  absl::StatusOr<StoredFunction> Get(const std::string& name) const override {
    absl::MutexLock lock(&mu_);
    auto it = functions_.find(name);
    if (it == functions_.end()) return NotFound(name);
    return it->second;
  }
  std::vector<v1::FunctionSpec> List() const override {
    absl::MutexLock lock(&mu_);
    std::vector<v1::FunctionSpec> out;
    for (const auto& [name, f] : functions_) out.push_back(f.spec);
    return out;
  }
  scheduler::PolicyConfig GetPolicy() const override {
    absl::MutexLock lock(&mu_);
    return policy_;
  }
  absl::Status SetPolicy(const scheduler::PolicyConfig& policy) override {
    absl::MutexLock lock(&mu_);
    policy_ = policy;
    return absl::OkStatus();
  }
  absl::StatusOr<EffectivePolicy> GetFunctionPolicy(const std::string& name) const override {
    absl::MutexLock lock(&mu_);
    if (!functions_.contains(name)) return NotFound(name);
    auto it = function_policies_.find(name);
    if (it == function_policies_.end()) return EffectivePolicy{policy_, false};
    return EffectivePolicy{it->second, true};
  }
  absl::Status SetFunctionPolicy(const std::string& name,
                                 const scheduler::PolicyConfig& policy) override {
    absl::MutexLock lock(&mu_);
    if (!functions_.contains(name)) return NotFound(name);
    function_policies_[name] = policy;
    return absl::OkStatus();
  }
  absl::Status ClearFunctionPolicy(const std::string& name) override {
    absl::MutexLock lock(&mu_);
    if (!functions_.contains(name)) return NotFound(name);
    function_policies_.erase(name);
    return absl::OkStatus();
  }

  // The input signature given to registered functions.
  void SetSignature(std::vector<v1::TensorSignature> inputs) {
    absl::MutexLock lock(&mu_);
    inputs_.Clear();
    for (auto& t : inputs) *inputs_.Add() = std::move(t);
  }
  void SetRegisterError(absl::Status error) {
    absl::MutexLock lock(&mu_);
    register_error_ = std::move(error);
  }
  std::string last_artifact() const {
    absl::MutexLock lock(&mu_);
    return last_artifact_;
  }

 private:
  static absl::Status NotFound(const std::string& name) {
    return absl::NotFoundError(absl::StrCat("function '", name, "' not found"));
  }

  mutable absl::Mutex mu_;
  std::map<std::string, StoredFunction> functions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, scheduler::PolicyConfig> function_policies_ ABSL_GUARDED_BY(mu_);
  scheduler::PolicyConfig policy_ ABSL_GUARDED_BY(mu_);
  google::protobuf::RepeatedPtrField<v1::TensorSignature> inputs_ ABSL_GUARDED_BY(mu_);
  absl::Status register_error_ ABSL_GUARDED_BY(mu_);
  std::string last_artifact_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::gateway
