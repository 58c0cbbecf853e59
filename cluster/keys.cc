#include "cluster/keys.h"

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "nlohmann/json.hpp"

namespace stoa::cluster {

std::string FunctionKey(const std::string& name) { return absl::StrCat(kFunctionsPrefix, name); }
std::string FunctionPolicyKey(const std::string& name) {
  return absl::StrCat(kPoliciesPrefix, name);
}

std::optional<RegistryKey> ParseRegistryKey(const std::string& key) {
  if (key == kGlobalPolicyKey) return RegistryKey{RegistryKey::kGlobalPolicy, ""};
  for (auto [prefix, kind] :
       {std::pair{std::string(kFunctionsPrefix), RegistryKey::kFunction},
        std::pair{std::string(kPoliciesPrefix), RegistryKey::kFunctionPolicy}}) {
    if (key.rfind(prefix, 0) == 0) {
      std::string name = key.substr(prefix.size());
      if (name.empty() || name.find('/') != std::string::npos) return std::nullopt;
      return RegistryKey{kind, name};
    }
  }
  return std::nullopt;
}

absl::Status ValidateTargetName(const std::string& target) {
  auto ok_char = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (!first && (c == '_' || c == '-'));
  };
  bool ok = !target.empty() && target.size() <= 63;
  for (size_t i = 0; ok && i < target.size(); ++i) ok = ok_char(target[i], i == 0);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("target name '", target, "' must match [a-z0-9][a-z0-9_-]{0,62}"));
}

std::string MembersPrefix(const std::string& target) {
  return absl::StrCat(kMembersPrefix, target, "/");
}

std::string MemberKey(const Member& member) {
  return absl::StrCat(MembersPrefix(member.target), member.address);
}

std::string EncodeMember(const Member& member) {
  nlohmann::json j = {
      {"address", member.address}, {"device", member.device}, {"capacity", member.capacity}};
  return j.dump();
}

absl::StatusOr<Member> DecodeMember(const std::string& key, const std::string& value) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("member key '", key, "': ", why));
  };
  const std::string prefix(kMembersPrefix);
  if (key.rfind(prefix, 0) != 0) return bad("not under /stoa/v1/members/");
  const std::string rest = key.substr(prefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) return bad("expected <target>/<address>");
  Member member;
  member.target = rest.substr(0, slash);
  if (auto s = ValidateTargetName(member.target); !s.ok()) return bad(std::string(s.message()));
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("address") || !j["address"].is_string()) {
    return bad("value is not {\"address\":...,\"device\":...,\"capacity\":...}");
  }
  member.address = j["address"].get<std::string>();
  if (member.address != rest.substr(slash + 1)) return bad("address differs from the key");
  if (auto hp = common::ParseHostPort(member.address); !hp.ok() || hp->port == 0) {
    return bad("address is not HOST:PORT");
  }
  if (j.contains("device") && j["device"].is_string())
    member.device = j["device"].get<std::string>();
  if (j.contains("capacity") && j["capacity"].is_number_integer()) {
    member.capacity = j["capacity"].get<int>();
  }
  return member;
}

}  // namespace stoa::cluster
