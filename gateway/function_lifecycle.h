// FunctionLifecycle: the one owner of a function's life and of the
// placement policies (docs/architecture.md § Function lifecycle):
//
//   register / replace  validate (the runtime loads the artifact and
//                       derives the signature) → persist (FunctionRegistry:
//                       atomic write, fsync) → retire the previous version
//                       (Invoker::Forget: unloaded from executors, forgotten
//                       by the scheduler and the dispatcher). Executors load
//                       the new version on first use (the cold start).
//   delete              registry → Invoker::Forget → the function's policy
//                       override cleared.
//   policies            save, then apply to the scheduler's PolicyStore,
//                       under the same lock as registrations, so what is
//                       stored and what runs never disagree.
//   Restore             at start-up: the saved global policy wins (a
//                       restart never undoes an operator's change), else the
//                       YAML policy file, else the defaults; then every
//                       saved per-function override (an unreadable one is
//                       logged and skipped).
//   remote changes      a shared store (EtcdFunctionStore) reports what other
//                       gateways changed: a replaced or deleted function is
//                       forgotten (unloaded, as above), a policy applied.
//
// Thread safety: all methods may be called concurrently; changes are
// serialized by one mutex (they fsync: run them off the I/O threads), but
// Register validates and loads the artifact (parsing a model, compiling a
// Wasm module) before taking it, so registrations do not queue behind a
// slow compile; the name is checked again under the mutex. Ownership: everything passed in must
// outlive it.
#pragma once

#include <string>

#include "absl/synchronization/mutex.h"
#include "functions/function_runtime.h"
#include "gateway/control_plane.h"
#include "gateway/function_registry.h"
#include "gateway/invoker.h"
#include "scheduler/policy_store.h"

namespace stoa::gateway {

class FunctionLifecycle final : public ControlPlane {
 public:
  FunctionLifecycle(FunctionStore& registry, const functions::RuntimeSet& runtimes,
                    Invoker& invoker, scheduler::PolicyStore& policies);
  ~FunctionLifecycle() override;

  // Applies the start-up policies (see above); `policy_file` may be "".
  // An unreadable or invalid policy file is INVALID_ARGUMENT naming it.
  absl::Status Restore(const std::string& policy_file);

  // What another gateway changed (the store's ChangeListener).
  void ApplyRemote(const RemoteChange& change);

  absl::StatusOr<Registered> Register(Registration registration, bool replace) override;
  absl::Status Delete(const std::string& name, const Precondition& precondition) override;
  absl::StatusOr<StoredFunction> Get(const std::string& name) const override;
  std::vector<v1::FunctionSpec> List() const override;

  scheduler::PolicyConfig GetPolicy() const override;
  absl::Status SetPolicy(const scheduler::PolicyConfig& policy) override;
  absl::StatusOr<EffectivePolicy> GetFunctionPolicy(const std::string& name) const override;
  absl::Status SetFunctionPolicy(const std::string& name,
                                 const scheduler::PolicyConfig& policy) override;
  absl::Status ClearFunctionPolicy(const std::string& name) override;

 private:
  absl::StatusOr<scheduler::PolicyConfig> StartupPolicy(const std::string& policy_file) const;

  FunctionStore& registry_;
  const functions::RuntimeSet& runtimes_;
  Invoker& invoker_;
  scheduler::PolicyStore& policies_;
  absl::Mutex mu_;  // serializes changes: check-then-store is atomic per name
};

}  // namespace stoa::gateway
