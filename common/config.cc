#include "common/config.h"

#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/yaml.h"

namespace stoa::common {

absl::StatusOr<std::vector<std::string>> ConfigFileToArgs(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat("config file ", path, " cannot be read"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", e.what()));
  }
  std::vector<std::string> args;
  if (root.IsNull()) return args;
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": top level must be a mapping of flag names"));
  }
  for (const auto& entry : root) {
    std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    std::string text;
    if (value.IsScalar()) {
      text = value.as<std::string>();
    } else if (value.IsSequence()) {
      std::vector<std::string> items;
      for (const auto& item : value) {
        if (!item.IsScalar()) {
          return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": key '", key,
                                                         "' must hold scalars, line ",
                                                         item.Mark().line + 1));
        }
        items.push_back(item.as<std::string>());
      }
      text = absl::StrJoin(items, ",");
    } else if (value.IsNull()) {
      continue;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": key '", key,
                                                     "' must be a scalar or a list, line ",
                                                     value.Mark().line + 1));
    }
    args.push_back(absl::StrCat("--", key));
    args.push_back(text);
  }
  return args;
}

absl::StatusOr<std::vector<std::string>> ExpandConfigArgs(int argc, const char* const* argv) {
  std::vector<std::string> rest;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (absl::StartsWith(arg, "--config=")) {
      config_path = std::string(arg.substr(9));
    } else {
      rest.emplace_back(arg);
    }
  }
  std::vector<std::string> out;
  out.emplace_back(argc > 0 ? argv[0] : "stoa");
  if (!config_path.empty()) {
    auto file_args = ConfigFileToArgs(config_path);
    if (!file_args.ok()) return file_args.status();
    out.insert(out.end(), file_args->begin(), file_args->end());
  }
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

}  // namespace stoa::common
