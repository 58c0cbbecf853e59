// ControlPlane: what the REST layer may change or read of functions and
// placement policies (implemented by FunctionLifecycle; a fake in tests).
// Every change is validated completely before anything is stored, so a
// rejected request changes nothing; errors are Status values with the
// codes of docs/architecture.md § Errors.
//
//   Register        validate the spec and artifact (the runtime loads it,
//                   deriving the input/output signature), persist, and
//                   retire the previous version. ALREADY_EXISTS unless
//                   `replace`; `created` says whether it is new.
//   Delete          forget the function everywhere; NOT_FOUND if unknown.
//                   `precondition` (may be null) sees the stored spec
//                   under the same lock as the deletion, so a check on it
//                   (the caller's tenant) cannot be overtaken by another
//                   change; its error is returned and nothing changes.
//   Get / List      the stored functions.
//   policies        the global policy and per-function overrides: saved
//                   and applied as one step.
//
// Thread safety: every method may be called concurrently; changes are
// serialized.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/artifact_file.h"
#include "gateway/function_registry.h"
#include "scheduler/policy_config.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

// A function as a client sent it: the spec and the artifact, staged in a
// file (the registry's upload directory) with its size and sha256; the
// file is removed with the Registration unless the registry took it.
struct Registration {
  v1::FunctionSpec spec;
  common::StagedArtifact artifact;
};

struct Registered {
  v1::FunctionSpec spec;  // as stored: version, sha256, signature
  bool created = false;   // false: it replaced an earlier version
};

// The policy that applies to a function, and whether it is its own.
struct EffectivePolicy {
  scheduler::PolicyConfig policy;
  bool own = false;  // false: the global policy
};

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  virtual absl::StatusOr<Registered> Register(Registration registration, bool replace) = 0;
  using Precondition = std::function<absl::Status(const v1::FunctionSpec&)>;
  virtual absl::Status Delete(const std::string& name, const Precondition& precondition) = 0;
  virtual absl::StatusOr<StoredFunction> Get(const std::string& name) const = 0;
  virtual std::vector<v1::FunctionSpec> List() const = 0;

  virtual scheduler::PolicyConfig GetPolicy() const = 0;
  virtual absl::Status SetPolicy(const scheduler::PolicyConfig& policy) = 0;
  // NOT_FOUND for an unknown function.
  virtual absl::StatusOr<EffectivePolicy> GetFunctionPolicy(const std::string& name) const = 0;
  virtual absl::Status SetFunctionPolicy(const std::string& name,
                                         const scheduler::PolicyConfig& policy) = 0;
  virtual absl::Status ClearFunctionPolicy(const std::string& name) = 0;

 protected:
  ControlPlane() = default;
};

}  // namespace stoa::gateway
