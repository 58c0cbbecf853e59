#include "gateway/target_spec.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace stoa::gateway {
namespace {

using scheduler::DeviceClass;
using scheduler::TargetInfo;
using scheduler::Tier;
using scheduler::TierClass;

absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Bad(std::string_view spec, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--target '", std::string(spec), "': ", std::string(why)));
}

bool IsLocal(std::string_view address) { return address == "local" || address == "in-process"; }

// NAME=TIER:DEVICE:ADDR with ADDR one address (more are appended later).
absl::StatusOr<TargetSpec> ParseOne(std::string_view spec) {
  std::vector<std::string> name_rest = absl::StrSplit(A(spec), absl::MaxSplits('=', 1));
  if (name_rest.size() != 2) return Bad(spec, "expected NAME=TIER:DEVICE:ADDR[,ADDR...]");
  std::vector<std::string> parts = absl::StrSplit(name_rest[1], absl::MaxSplits(':', 2));
  if (parts.size() != 3) return Bad(spec, "expected NAME=TIER:DEVICE:ADDR[,ADDR...]");
  TargetSpec out;
  out.info.name = std::string(absl::StripAsciiWhitespace(name_rest[0]));
  if (out.info.name.empty()) return Bad(spec, "the target has no name");
  auto tier = scheduler::ParseTierClass(parts[0]);
  if (!tier) return Bad(spec, absl::StrCat("tier '", parts[0], "' is not edge or cloud"));
  auto device = scheduler::ParseDeviceClass(parts[1]);
  if (!device) return Bad(spec, absl::StrCat("device '", parts[1], "' is not cpu or cuda"));
  out.info.tier = *tier;
  out.info.device = *device;
  const std::string address(absl::StripAsciiWhitespace(parts[2]));
  if (address.empty()) {
    out.announced = true;  // members from etcd only (checked by gateway_cluster)
  } else {
    out.addresses.push_back(address);
  }
  return out;
}

absl::Status Check(const TargetSpec& t) {
  const std::string spec = absl::StrCat(t.info.name, "=...:", absl::StrJoin(t.addresses, ","));
  for (const std::string& a : t.addresses) {
    if (IsLocal(a) && t.addresses.size() > 1) {
      return Bad(spec, "'local' (the in-process executor) cannot be part of a pool");
    }
    if (!IsLocal(a) && !absl::StartsWith(a, "unix:") && a.find(':') == std::string::npos) {
      return Bad(spec, absl::StrCat("address '", a, "' is not local, unix:PATH or HOST:PORT"));
    }
  }
  return absl::OkStatus();
}

// The shorthand's target, or nullopt for none.
std::optional<TargetSpec> Shorthand(std::string_view name, TierClass tier, std::string_view value) {
  TargetSpec out;
  out.info = {std::string(name), tier, DeviceClass::kCpu};
  for (absl::string_view a : absl::StrSplit(A(value), ',', absl::SkipWhitespace())) {
    out.addresses.emplace_back(absl::StripAsciiWhitespace(a));
  }
  if (out.addresses.empty() || (out.addresses.size() == 1 && out.addresses[0] == "none")) {
    out.addresses.clear();
    return std::nullopt;
  }
  out.in_process = out.addresses.size() == 1 && IsLocal(out.addresses[0]);
  return out;
}

}  // namespace

absl::StatusOr<std::vector<TargetSpec>> ParseTargetFlag(std::string_view value) {
  std::vector<TargetSpec> out;
  for (absl::string_view piece : absl::StrSplit(A(value), ',', absl::SkipWhitespace())) {
    const std::string item(absl::StripAsciiWhitespace(piece));
    if (item.empty()) continue;
    if (item.find('=') != std::string::npos) {
      auto spec = ParseOne(item);
      if (!spec.ok()) return spec.status();
      out.push_back(*std::move(spec));
    } else if (out.empty()) {
      return Bad(value, "expected NAME=TIER:DEVICE:ADDR[,ADDR...]");
    } else {
      out.back().addresses.push_back(item);
    }
  }
  if (out.empty()) return Bad(value, "expected NAME=TIER:DEVICE:ADDR[,ADDR...]");
  for (TargetSpec& t : out) {
    if (auto s = Check(t); !s.ok()) return s;
    t.announced = t.addresses.empty();
    t.in_process = !t.addresses.empty() && IsLocal(t.addresses[0]);
  }
  return out;
}

absl::StatusOr<std::vector<TargetSpec>> ResolveTargets(std::string_view edge,
                                                       std::string_view cloud,
                                                       const std::vector<std::string>& targets) {
  std::optional<TargetSpec> e = Shorthand("edge", TierClass::kEdge, edge);
  std::optional<TargetSpec> c = Shorthand("cloud", TierClass::kCloud, cloud);
  std::vector<TargetSpec> out;
  if (targets.empty()) {
    out.push_back(e ? *e
                    : TargetSpec{{"edge", TierClass::kEdge, DeviceClass::kCpu}, {}, false, false});
    out.push_back(
        c ? *c : TargetSpec{{"cloud", TierClass::kCloud, DeviceClass::kCpu}, {}, false, false});
  } else {
    if (e) out.push_back(*e);
    if (c) out.push_back(*c);
    for (const std::string& value : targets) {
      auto parsed = ParseTargetFlag(value);
      if (!parsed.ok()) return parsed.status();
      for (TargetSpec& t : *parsed) out.push_back(std::move(t));
    }
  }
  int local = 0;
  for (const TargetSpec& t : out) {
    if (t.in_process && ++local > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--target: target '", t.info.name,
          "' is a second in-process target (the gateway has one in-process executor; --edge "
          "in-process, the default, is one: pass --edge none to name it with --target)"));
    }
  }
  if (auto table = TableOf(out); !table.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--target: ", table.status().message(),
        " (--edge and --cloud define the targets 'edge' and 'cloud' unless set to none)"));
  }
  return out;
}

absl::StatusOr<scheduler::TargetTable> TableOf(const std::vector<TargetSpec>& specs) {
  std::vector<TargetInfo> infos;
  for (const TargetSpec& t : specs) infos.push_back(t.info);
  return scheduler::TargetTable::Make(std::move(infos));
}

absl::StatusOr<std::optional<Tier>> ForcedTarget(std::string_view tier, std::string_view target,
                                                 std::string_view kind) {
  const scheduler::TargetTable& table = scheduler::Targets();
  auto names = [&] {
    std::vector<std::string> n;
    for (Tier t : table.all()) n.emplace_back(table.at(t).name);
    return absl::StrJoin(n, ", ");
  };
  std::optional<Tier> by_target;
  if (!target.empty()) {
    by_target = table.Find(target);
    if (!by_target) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(kind), " 'target': unknown target '", std::string(target),
                       "' (targets: ", names(), ")"));
    }
  }
  std::optional<Tier> by_tier;
  if (!tier.empty()) {
    by_tier = table.Find(tier);
    if (!by_tier) {
      auto cls = scheduler::ParseTierClass(tier);
      if (!cls) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(kind), " 'tier' must be edge, cloud or a target name, got '",
                         std::string(tier), "'"));
      }
      const scheduler::TierSet set = table.OfClass(*cls);
      for (Tier t : table.all()) {
        if (!set.Contains(t)) continue;
        if (by_tier) {
          return absl::InvalidArgumentError(absl::StrCat(
              std::string(kind), " 'tier': tier '", std::string(tier),
              "' has several targets; name one with 'target' (targets: ", names(), ")"));
        }
        by_tier = t;
      }
      if (!by_tier) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(kind), " 'tier': no target of tier '", std::string(tier),
                         "' (targets: ", names(), ")"));
      }
    }
  }
  if (by_tier && by_target && *by_tier != *by_target) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(kind), "s 'tier' and 'target' name different targets"));
  }
  return by_target ? by_target : by_tier;
}

}  // namespace stoa::gateway
