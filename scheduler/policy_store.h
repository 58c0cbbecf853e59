// The PolicyStore holds the placement policies in force (DESIGN.md
// § Scheduler): one global policy, and per function an optional override
// of it. The REST API reads and writes them (GET/PUT /v1/policy,
// /v1/functions/{name}/policy); the Scheduler that decides placements
// reads them on every Decide.
//
// Policies arrive validated (policy_config.h parses and checks them), so
// no method fails.
//
// Thread safety: every method may be called concurrently with each other
// and with the scheduler's Decide; a change applies from the next Decide
// for the functions it concerns.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "scheduler/policy_config.h"

namespace stoa::scheduler {

class PolicyStore {
 public:
  virtual ~PolicyStore() = default;
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Replaces the global policy: every function without an override uses it
  // from its next decision.
  virtual void SetPolicy(const PolicyConfig& policy) = 0;
  virtual PolicyConfig GetPolicy() const = 0;
  // Per-function override of the global policy; the next Decide for that
  // function uses it. Clear returns the function to the global policy (a
  // no-op when it has no override). Overrides survive Scheduler::Forget.
  virtual void SetFunctionPolicy(std::string_view function, const PolicyConfig& policy) = 0;
  virtual void ClearFunctionPolicy(std::string_view function) = 0;
  // The function's override; nullopt when it follows the global policy.
  virtual std::optional<PolicyConfig> GetFunctionPolicy(std::string_view function) const = 0;

 protected:
  PolicyStore() = default;
};
using PolicyStorePtr = std::unique_ptr<PolicyStore>;

}  // namespace stoa::scheduler
