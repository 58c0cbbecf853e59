#include "gateway/function_lifecycle.h"

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "gateway/pipeline_lifecycle.h"
#include "gateway/pipeline_spec.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {

FunctionLifecycle::FunctionLifecycle(FunctionStore& registry, const functions::RuntimeSet& runtimes,
                                     Invoker& invoker, scheduler::PolicyStore& policies)
    : registry_(registry), runtimes_(runtimes), invoker_(invoker), policies_(policies) {
  registry_.SetChangeListener([this](const RemoteChange& change) { ApplyRemote(change); });
}

FunctionLifecycle::~FunctionLifecycle() { registry_.SetChangeListener(nullptr); }

void FunctionLifecycle::ApplyRemote(const RemoteChange& change) {
  absl::MutexLock lock(&mu_);
  switch (change.kind) {
    case RemoteChange::kFunctionStored:
      if (!change.previous_sha256.empty()) invoker_.Forget(change.name, change.previous_sha256);
      spdlog::info("function '{}' stored by another gateway", change.name);
      return;
    case RemoteChange::kFunctionDeleted:
      invoker_.Forget(change.name, "");
      policies_.ClearFunctionPolicy(change.name);
      spdlog::info("function '{}' deleted by another gateway", change.name);
      return;
    case RemoteChange::kFunctionPolicy:
    case RemoteChange::kGlobalPolicy:
      break;
  }
  const bool global = change.kind == RemoteChange::kGlobalPolicy;
  if (!change.policy_json) {
    if (global) {
      policies_.SetPolicy(scheduler::PolicyConfig{});
    } else {
      policies_.ClearFunctionPolicy(change.name);
    }
    return;
  }
  auto policy = scheduler::ParsePolicyJson(*change.policy_json);
  if (!policy.ok()) {
    spdlog::error("ignoring a policy stored by another gateway: {}", policy.status().ToString());
    return;
  }
  if (global) {
    policies_.SetPolicy(*policy);
  } else {
    policies_.SetFunctionPolicy(change.name, *policy);
  }
  spdlog::info("placement policy{}{} set by another gateway", global ? "" : " of ", change.name);
}

absl::StatusOr<scheduler::PolicyConfig> FunctionLifecycle::StartupPolicy(
    const std::string& policy_file) const {
  if (std::optional<std::string> saved = registry_.LoadPolicy()) {
    auto policy = scheduler::ParsePolicyJson(*saved);
    if (policy.ok()) {
      if (!policy_file.empty()) {
        spdlog::info("using the policy saved with PUT /v1/policy, not {}", policy_file);
      }
      return policy;
    }
    spdlog::error("ignoring the saved policy: {}", policy.status().ToString());
  }
  if (policy_file.empty()) return scheduler::PolicyConfig{};
  auto yaml = common::ReadFile(policy_file);
  if (!yaml.ok()) return yaml.status();
  auto policy = scheduler::ParsePolicyYaml(*yaml);
  if (!policy.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(policy_file, ": ", policy.status().message()));
  }
  return policy;
}

absl::Status FunctionLifecycle::Restore(const std::string& policy_file) {
  auto policy = StartupPolicy(policy_file);
  if (!policy.ok()) return policy.status();
  absl::MutexLock lock(&mu_);
  policies_.SetPolicy(*policy);
  spdlog::info("placement policy: {}", scheduler::PolicyToJson(*policy));
  for (const v1::FunctionSpec& spec : registry_.List()) {
    std::optional<std::string> saved = registry_.LoadFunctionPolicy(spec.name());
    if (!saved) continue;
    auto own = scheduler::ParsePolicyJson(*saved);
    if (!own.ok()) {
      spdlog::error("ignoring the saved policy of '{}': {}", spec.name(), own.status().ToString());
      continue;
    }
    policies_.SetFunctionPolicy(spec.name(), *own);
  }
  return absl::OkStatus();
}

absl::StatusOr<Registered> FunctionLifecycle::Register(Registration reg, bool replace) {
  const std::string name = reg.spec.name();
  auto exists = [&](const absl::StatusOr<StoredFunction>& previous) {
    return absl::AlreadyExistsError(absl::StrCat("function '", name, "' already exists (version ",
                                                 previous->spec.version(), "); PUT /v1/functions/",
                                                 name, " replaces it"));
  };
  if (auto previous = registry_.Get(name); previous.ok() && !replace) return exists(previous);
  // Validating the artifact also derives the signature. It may compile (a
  // Wasm module, in the compile sandbox), so it runs outside the lock: other
  // registrations do not wait for it.
  if (reg.artifact.file == nullptr) return absl::InvalidArgumentError("the artifact is missing");
  // A pipeline has no runtime: its stages are checked under the lock.
  if (!IsPipeline(reg.spec)) {
    // From the staged file: a large model is parsed without a copy in memory.
    auto loaded = runtimes_.LoadFile(reg.spec, reg.artifact.file->path());
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat("artifact rejected: ", loaded.status().message()));
    }
    *reg.spec.mutable_inputs() = (*loaded)->spec().inputs();
    *reg.spec.mutable_outputs() = (*loaded)->spec().outputs();
    *reg.spec.mutable_split_cuts() = (*loaded)->spec().split_cuts();  // docs/split.md
    loaded->reset();  // the validation copy goes before anything else loads it
  }
  absl::MutexLock lock(&mu_);
  auto previous = registry_.Get(name);
  if (previous.ok() && !replace) return exists(previous);
  if (IsPipeline(reg.spec)) RETURN_IF_ERROR(ResolveStages(registry_, reg.spec));
  // Pipelines using this function must still fit it (gateway/pipeline_lifecycle.h).
  ASSIGN_OR_RETURN(std::vector<v1::FunctionSpec> dependents, DependentsAfter(registry_, reg.spec));
  auto stored = registry_.Put(std::move(reg.spec), reg.artifact, replace);
  if (!stored.ok()) return stored.status();
  StoreDependents(registry_, std::move(dependents));
  if (previous.ok()) invoker_.Forget(name, previous->spec.sha256());
  spdlog::info("function '{}' version {} stored (sha256 {})", name, stored->version(),
               stored->sha256());
  return Registered{*std::move(stored), !previous.ok()};
}

absl::Status FunctionLifecycle::Delete(const std::string& name, const Precondition& precondition) {
  absl::MutexLock lock(&mu_);
  if (precondition) {
    auto stored = registry_.Get(name);
    if (!stored.ok()) return stored.status();
    if (auto s = precondition(stored->spec); !s.ok()) return s;
  }
  if (auto s = CheckNotAStage(registry_, name); !s.ok()) return s;
  if (auto s = registry_.Delete(name); !s.ok()) return s;
  invoker_.Forget(name, "");
  policies_.ClearFunctionPolicy(name);
  spdlog::info("function '{}' deleted", name);
  return absl::OkStatus();
}

absl::StatusOr<StoredFunction> FunctionLifecycle::Get(const std::string& name) const {
  return registry_.Get(name);
}

std::vector<v1::FunctionSpec> FunctionLifecycle::List() const { return registry_.List(); }

scheduler::PolicyConfig FunctionLifecycle::GetPolicy() const { return policies_.GetPolicy(); }

absl::Status FunctionLifecycle::SetPolicy(const scheduler::PolicyConfig& policy) {
  const std::string normalized = scheduler::PolicyToJson(policy);
  absl::MutexLock lock(&mu_);
  if (auto s = registry_.SavePolicy(normalized); !s.ok()) return s;
  policies_.SetPolicy(policy);
  spdlog::info("placement policy set: {}", normalized);
  return absl::OkStatus();
}

absl::StatusOr<EffectivePolicy> FunctionLifecycle::GetFunctionPolicy(
    const std::string& name) const {
  if (auto fn = registry_.Get(name); !fn.ok()) return fn.status();
  std::optional<scheduler::PolicyConfig> own = policies_.GetFunctionPolicy(name);
  return EffectivePolicy{own ? *own : policies_.GetPolicy(), own.has_value()};
}

absl::Status FunctionLifecycle::SetFunctionPolicy(const std::string& name,
                                                  const scheduler::PolicyConfig& policy) {
  const std::string normalized = scheduler::PolicyToJson(policy);
  absl::MutexLock lock(&mu_);
  if (auto s = registry_.SaveFunctionPolicy(name, normalized); !s.ok()) return s;
  policies_.SetFunctionPolicy(name, policy);
  spdlog::info("placement policy of '{}' set: {}", name, normalized);
  return absl::OkStatus();
}

absl::Status FunctionLifecycle::ClearFunctionPolicy(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (auto s = registry_.DeleteFunctionPolicy(name); !s.ok()) return s;
  policies_.ClearFunctionPolicy(name);
  spdlog::info("placement policy override of '{}' removed", name);
  return absl::OkStatus();
}

}  // namespace stoa::gateway
