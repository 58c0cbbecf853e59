#include "tools/replay_command.h"

#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "scheduler/trace_replay.h"

namespace stoa::tools {
namespace {

using nlohmann::json;

// The recorded policy document with "policy" = `name` and the params set.
absl::StatusOr<scheduler::PolicyConfig> PolicyFor(const scheduler::PolicyConfig& recorded,
                                                  const std::string& name,
                                                  const std::vector<std::string>& params) {
  json doc = json::parse(scheduler::PolicyToJson(recorded));
  doc["policy"] = name;
  for (const std::string& param : params) {
    std::vector<std::string> kv = absl::StrSplit(param, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--param '", param, "' is not KEY=VALUE (e.g. explore_budget=0.05)"));
    }
    json value = json::parse(kv[1], nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = kv[1];
    json* target = &doc;
    std::vector<std::string> path = absl::StrSplit(kv[0], '.');
    for (size_t i = 0; i + 1 < path.size(); ++i) target = &(*target)[path[i]];
    (*target)[path.back()] = value;
  }
  return scheduler::ParsePolicyJson(doc.dump());
}

}  // namespace

int RunReplay(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> files, params;
  std::string policies;
  std::optional<uint64_t> seed;
  CLI::App app("stoa replay: score placement policies offline on a recorded decision trace");
  app.add_option("files", files, "trace file(s), oldest first (FILE.1 FILE)")->required();
  app.add_option("--policy", policies, "policies to replay, comma-separated")->required();
  app.add_option("--param", params, "KEY=VALUE of the policy document (repeatable)");
  app.add_option("--seed", seed, "scheduler seed (default: the recorded one)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto trace = scheduler::LoadTrace(files);
  if (!trace.ok()) {
    err << "stoa replay: " << trace.status().message() << "\n";
    return 1;
  }
  std::vector<scheduler::PolicyConfig> configs;
  const std::vector<std::string> names = absl::StrSplit(policies, ',', absl::SkipWhitespace());
  for (const std::string& name : names) {
    auto config = PolicyFor(trace->policy, name, params);
    if (!config.ok()) {
      err << "stoa replay: policy '" << name << "': " << config.status().message() << "\n";
      return 2;
    }
    configs.push_back(*config);
  }
  std::vector<scheduler::ReplayScore> scores = {scheduler::ScoreLive(*trace)};
  for (const scheduler::PolicyConfig& config : configs) {
    scores.push_back(scheduler::Replay(*trace, config, seed));
  }
  out << FormatScores(scores);
  return 0;
}

}  // namespace stoa::tools
