#include "gateway/pipeline_lifecycle.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/pipeline_spec.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {
namespace {

SpecLookup FromRegistry(const FunctionStore& registry) {
  return [&registry](const std::string& name) -> absl::StatusOr<v1::FunctionSpec> {
    auto stored = registry.Get(name);
    if (!stored.ok()) return stored.status();
    return std::move(stored->spec);
  };
}

bool SameSignature(const v1::FunctionSpec& a, const v1::FunctionSpec& b) {
  auto same = [](const auto& x, const auto& y) {
    if (x.size() != y.size()) return false;
    for (int i = 0; i < x.size(); ++i) {
      if (x[i].SerializeAsString() != y[i].SerializeAsString()) return false;
    }
    return true;
  };
  return same(a.inputs(), b.inputs()) && same(a.outputs(), b.outputs());
}

}  // namespace

absl::Status ResolveStages(const FunctionStore& registry, v1::FunctionSpec& pipeline) {
  return ResolvePipeline(pipeline, FromRegistry(registry));
}

absl::StatusOr<std::vector<v1::FunctionSpec>> DependentsAfter(const FunctionStore& registry,
                                                              const v1::FunctionSpec& changed) {
  std::vector<v1::FunctionSpec> changed_pipelines;
  const std::vector<v1::FunctionSpec> all = registry.List();
  const SpecLookup stored = FromRegistry(registry);
  const SpecLookup with_change = [&](const std::string& name) -> absl::StatusOr<v1::FunctionSpec> {
    if (name == changed.name()) return changed;
    return stored(name);
  };
  for (const std::string& name : PipelinesUsing(changed.name(), all)) {
    auto pipeline = registry.Get(name);
    if (!pipeline.ok()) continue;  // deleted meanwhile
    v1::FunctionSpec updated = pipeline->spec;
    if (auto s = ResolvePipeline(updated, with_change); !s.ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat("function '", changed.name(), "' is a stage of pipeline '", name,
                       "', which this version would break: ", s.message()));
    }
    if (!SameSignature(updated, pipeline->spec)) changed_pipelines.push_back(std::move(updated));
  }
  return changed_pipelines;
}

void StoreDependents(FunctionStore& registry, std::vector<v1::FunctionSpec> pipelines) {
  for (v1::FunctionSpec& spec : pipelines) {
    const std::string name = spec.name();
    const std::string artifact = PipelineArtifact(spec);
    auto stored = registry.Put(std::move(spec), artifact, true);
    if (!stored.ok()) {
      spdlog::error("pipeline '{}': storing its new signature failed: {}", name,
                    stored.status().ToString());
    } else {
      spdlog::info("pipeline '{}' version {}: a stage changed its signature", name,
                   stored->version());
    }
  }
}

absl::Status CheckNotAStage(const FunctionStore& registry, const std::string& function) {
  std::vector<std::string> users = PipelinesUsing(function, registry.List());
  if (users.empty()) return absl::OkStatus();
  return absl::AlreadyExistsError(absl::StrCat(
      "function '", function, "' is a stage of pipeline", users.size() > 1 ? "s " : " ", "'",
      absl::StrJoin(users, "', '"), "': delete or change the pipeline first"));
}

}  // namespace stoa::gateway
