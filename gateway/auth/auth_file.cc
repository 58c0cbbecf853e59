#include "gateway/auth/auth_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "yaml-cpp/yaml.h"

namespace stoa::gateway::auth {
namespace {

using Keys = std::initializer_list<std::string_view>;

bool IsNameChar(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return !first && (c == '_' || c == '.' || c == '@' || c == ':' || c == '-');
}

bool IsLowerHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsPrintable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view origin) : origin_(origin) {}

  absl::Status Error(const YAML::Node& at, std::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(origin_, " line ", at.Mark().line + 1, ": ", std::string(message)));
  }

  // `node` is a mapping whose keys are all in `allowed`, none repeated.
  absl::Status CheckKeys(const YAML::Node& node, Keys allowed, std::string_view what) const {
    if (!node.IsMap()) return Error(node, absl::StrCat(std::string(what), " must be a mapping"));
    std::set<std::string> seen;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) return Error(kv.first, "keys must be plain names");
      const std::string key = kv.first.Scalar();
      bool known = false;
      for (auto a : allowed) known = known || key == a;
      if (!known) {
        std::string list;
        for (auto a : allowed) absl::StrAppend(&list, list.empty() ? "" : ", ", std::string(a));
        return Error(kv.first, absl::StrCat("unknown key \"", key, "\" in ", std::string(what),
                                            " (known: ", list, ")"));
      }
      if (!seen.insert(key).second) {
        return Error(kv.first,
                     absl::StrCat("key \"", key, "\" appears twice in ", std::string(what)));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const YAML::Node& node, std::string_view key) const {
    if (!node.IsScalar() || node.Scalar().empty()) {
      return Error(node, absl::StrCat(std::string(key), " must be a non-empty string"));
    }
    return node.Scalar();
  }

  absl::StatusOr<double> Number(const YAML::Node& node, std::string_view key) const {
    double v = 0;
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, v) || !std::isfinite(v)) {
      return Error(node, absl::StrCat(std::string(key), " must be a number"));
    }
    return v;
  }

  absl::StatusOr<RateLimit> ParseRateLimit(const YAML::Node& node, std::string_view what) const {
    RETURN_IF_ERROR(CheckKeys(node, {"per_second", "burst"}, what));
    RateLimit limit;
    if (!node["per_second"])
      return Error(node, absl::StrCat(std::string(what), " needs per_second"));
    ASSIGN_OR_RETURN(limit.per_second, Number(node["per_second"], "per_second"));
    if (limit.per_second < 0) return Error(node["per_second"], "per_second must be >= 0");
    if (node["burst"]) {
      ASSIGN_OR_RETURN(limit.burst, Number(node["burst"], "burst"));
      if (limit.burst < 1) return Error(node["burst"], "burst must be >= 1");
    }
    return limit;
  }

  absl::StatusOr<AuthEntry> ParseEntry(const YAML::Node& node) const;
  // sha256 and/or certificate, at least one.
  absl::Status ParseCredentials(const YAML::Node& node, AuthEntry& entry) const;
  absl::Status ParseRoleLimits(const YAML::Node& node, AuthTable& table) const;

 private:
  std::string origin_;
};

absl::Status Parser::ParseCredentials(const YAML::Node& node, AuthEntry& entry) const {
  if (node["sha256"]) {
    // Never echo the value: a token pasted here by mistake would leak into logs.
    if (!node["sha256"].IsScalar() || !IsLowerHex64(node["sha256"].Scalar())) {
      return Error(node["sha256"],
                   "sha256 must be 64 lower-case hex characters (the SHA-256 of the token, "
                   "not the token)");
    }
    entry.sha256 = node["sha256"].Scalar();
  }
  if (node["certificate"]) {
    ASSIGN_OR_RETURN(entry.certificate, String(node["certificate"], "certificate"));
    if (entry.certificate.size() > 255 || !IsPrintable(entry.certificate)) {
      return Error(node["certificate"],
                   "certificate must be a printable name of at most 255 bytes");
    }
  }
  if (entry.sha256.empty() && entry.certificate.empty()) {
    return Error(node,
                 absl::StrCat("entry \"", entry.identity.name, "\" needs sha256 or certificate"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AuthEntry> Parser::ParseEntry(const YAML::Node& node) const {
  RETURN_IF_ERROR(CheckKeys(
      node, {"name", "sha256", "certificate", "role", "tenant", "functions", "rate_limit"},
      "a tokens entry"));
  AuthEntry entry;
  entry.line = node.Mark().line + 1;
  Identity& id = entry.identity;
  if (!node["name"]) return Error(node, "the entry has no name");
  ASSIGN_OR_RETURN(id.name, String(node["name"], "name"));
  for (size_t i = 0; i < id.name.size(); ++i) {
    if (id.name.size() > 128 || !IsNameChar(id.name[i], i == 0)) {
      return Error(node["name"], "name must match [A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}");
    }
  }
  if (!node["role"]) return Error(node, absl::StrCat("entry \"", id.name, "\" has no role"));
  ASSIGN_OR_RETURN(std::string role, String(node["role"], "role"));
  auto parsed = ParseRole(role);
  if (!parsed) {
    return Error(node["role"], "role must be one of admin, developer, operator, invoker");
  }
  id.role = *parsed;
  RETURN_IF_ERROR(ParseCredentials(node, entry));
  if (node["tenant"]) {
    ASSIGN_OR_RETURN(id.tenant, String(node["tenant"], "tenant"));
    if (auto st = ValidateTenantName(id.tenant); !st.ok())
      return Error(node["tenant"], std::string(st.message()));
  }
  if (const YAML::Node& fns = node["functions"]) {
    if (id.role != Role::kInvoker) {
      return Error(fns, absl::StrCat("functions applies only to role invoker (entry \"", id.name,
                                     "\" is ", std::string(RoleName(id.role)), ")"));
    }
    if (!fns.IsSequence()) return Error(fns, "functions must be a list of name patterns");
    for (const auto& f : fns) {
      ASSIGN_OR_RETURN(std::string pattern, String(f, "a functions pattern"));
      if (pattern.size() > 256 || !IsPrintable(pattern)) {
        return Error(f, "a functions pattern must be printable and at most 256 bytes");
      }
      id.functions.push_back(std::move(pattern));
    }
  }
  if (node["rate_limit"]) {
    ASSIGN_OR_RETURN(id.rate_limit, ParseRateLimit(node["rate_limit"], "rate_limit"));
  }
  return entry;
}

absl::Status Parser::ParseRoleLimits(const YAML::Node& node, AuthTable& table) const {
  RETURN_IF_ERROR(CheckKeys(node, {"admin", "developer", "operator", "invoker"}, "rate_limits"));
  for (const auto& kv : node) {
    const Role role = *ParseRole(kv.first.Scalar());
    ASSIGN_OR_RETURN(table.role_limits[static_cast<size_t>(role)],
                     ParseRateLimit(kv.second, absl::StrCat("rate_limits.", kv.first.Scalar())));
  }
  return absl::OkStatus();
}

absl::Status AddEntry(const Parser& parser, const YAML::Node& node, AuthEntry entry,
                      AuthTable& table) {
  const size_t index = table.entries.size();
  for (const auto& other : table.entries) {
    if (other.identity.name == entry.identity.name) {
      return parser.Error(node, absl::StrCat("name \"", entry.identity.name,
                                             "\" is used twice (first on line ", other.line, ")"));
    }
  }
  if (!entry.sha256.empty() && !table.by_sha256.emplace(entry.sha256, index).second) {
    return parser.Error(node, absl::StrCat("entry \"", entry.identity.name,
                                           "\" has the same sha256 as the entry on line ",
                                           table.entries[table.by_sha256[entry.sha256]].line));
  }
  if (!entry.certificate.empty() &&
      !table.by_certificate.emplace(entry.certificate, index).second) {
    if (!entry.sha256.empty()) table.by_sha256.erase(entry.sha256);
    return parser.Error(
        node, absl::StrCat("certificate \"", entry.certificate, "\" is named twice (first on line ",
                           table.entries[table.by_certificate[entry.certificate]].line, ")"));
  }
  table.entries.push_back(std::move(entry));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AuthTable> ParseAuthYaml(const std::string& text, std::string_view origin) {
  const Parser parser(origin);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(origin), " line ", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  AuthTable table;
  if (root.IsNull()) return table;
  try {
    RETURN_IF_ERROR(parser.CheckKeys(root, {"tokens", "rate_limits"}, "the top level"));
    if (const YAML::Node& limits = root["rate_limits"]) {
      RETURN_IF_ERROR(parser.ParseRoleLimits(limits, table));
    }
    const YAML::Node& tokens = root["tokens"];
    if (tokens && !tokens.IsNull()) {
      if (!tokens.IsSequence()) return parser.Error(tokens, "tokens must be a list of entries");
      for (const auto& node : tokens) {
        ASSIGN_OR_RETURN(AuthEntry entry, parser.ParseEntry(node));
        RETURN_IF_ERROR(AddEntry(parser, node, std::move(entry), table));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(origin), " line ", e.mark.line + 1, ": ", e.msg));
  }
  for (auto& entry : table.entries) {
    if (!entry.identity.rate_limit.limited()) {
      entry.identity.rate_limit = table.RoleLimit(entry.identity.role);
    }
  }
  return table;
}

absl::StatusOr<AuthTable> LoadAuthFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, common::ReadFile(path));
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0) {
    spdlog::warn("auth file {} is readable by every user (mode {:o}); chmod 600 it", path,
                 st.st_mode & 07777);
  }
  return ParseAuthYaml(text, absl::StrCat("auth file ", path));
}

}  // namespace stoa::gateway::auth
