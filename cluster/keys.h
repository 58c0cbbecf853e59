// Where Stoa keeps its shared state in etcd (docs/scaling.md § Layout),
// and the codec of each value. Everything lives under /stoa/v1/:
//
//   /stoa/v1/registry/functions/<name>   FunctionSpec as protobuf JSON
//                                        (version, sha256 of the artifact
//                                        in the --artifact-store)
//   /stoa/v1/registry/policies/<name>    a function's policy override (JSON)
//   /stoa/v1/registry/policy             the global policy (JSON)
//   /stoa/v1/members/<target>/<address>  an executor, under its lease:
//                                        {"address","device","capacity"}
//
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::cluster {

inline constexpr char kRoot[] = "/stoa/v1/";
inline constexpr char kRegistryPrefix[] = "/stoa/v1/registry/";
inline constexpr char kFunctionsPrefix[] = "/stoa/v1/registry/functions/";
inline constexpr char kPoliciesPrefix[] = "/stoa/v1/registry/policies/";
inline constexpr char kGlobalPolicyKey[] = "/stoa/v1/registry/policy";
inline constexpr char kMembersPrefix[] = "/stoa/v1/members/";

std::string FunctionKey(const std::string& name);
std::string FunctionPolicyKey(const std::string& name);

// What a registry key names.
struct RegistryKey {
  enum Kind { kFunction, kFunctionPolicy, kGlobalPolicy } kind;
  std::string name;  // the function; "" for kGlobalPolicy
};
// nullopt for a key outside the registry layout (ignored by readers).
std::optional<RegistryKey> ParseRegistryKey(const std::string& key);

// An executor as it announces itself.
struct Member {
  std::string target;   // e.g. "cloud"
  std::string address;  // HOST:PORT the gateways dial
  std::string device;   // "cpu", "cuda"
  int capacity = 0;     // worker threads
};

// INVALID_ARGUMENT naming the rule: [a-z0-9][a-z0-9_-]{0,62}.
absl::Status ValidateTargetName(const std::string& target);
std::string MemberKey(const Member& member);
std::string MembersPrefix(const std::string& target);
std::string EncodeMember(const Member& member);
// INVALID_ARGUMENT naming the key for a key outside the layout or a value
// that is not the JSON EncodeMember writes.
absl::StatusOr<Member> DecodeMember(const std::string& key, const std::string& value);

}  // namespace stoa::cluster
