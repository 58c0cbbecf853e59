#include "tools/model/model_io.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"

namespace stoa::tools::model {
namespace {

absl::Status CheckKeys(const YAML::Node& node, const std::string& where,
                       const std::set<std::string>& allowed) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where.empty() ? "model input" : where, ": expected a mapping"));
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field '", where.empty() ? "" : where + ".", key, "'"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status Read(const YAML::Node& node, const std::string& key, const std::string& where,
                  T& out) {
  if (!node[key]) return absl::OkStatus();
  try {
    out = node[key].as<T>();
  } catch (const YAML::Exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", where.empty() ? "" : where + ".", key, "': expected a number"));
  }
  return absl::OkStatus();
}

absl::Status ReadCompute(const YAML::Node& root, const std::string& key, ComputeSpec& spec) {
  if (!root[key]) return absl::OkStatus();
  const YAML::Node n = root[key];
  if (auto s = CheckKeys(n, key, {"proc_ms", "cores"}); !s.ok()) return s;
  if (auto s = Read(n, "proc_ms", key, spec.proc_ms); !s.ok()) return s;
  return Read(n, "cores", key, spec.cores);
}

absl::Status ReadLink(const YAML::Node& root, const std::string& key, LinkSpec& spec) {
  if (!root[key]) return absl::OkStatus();
  const YAML::Node n = root[key];
  if (auto s = CheckKeys(n, key, {"rtt_ms", "rate_mbit"}); !s.ok()) return s;
  if (auto s = Read(n, "rtt_ms", key, spec.rtt_ms); !s.ok()) return s;
  return Read(n, "rate_mbit", key, spec.rate_mbit);
}

nlohmann::json Num(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json("inf");
}

std::string Fmt(double v, const char* fmt = "%.3f") {
  if (!std::isfinite(v)) return "inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

}  // namespace

absl::Status ApplyYaml(const std::string& yaml_text, ModelInput& in) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("model input: ", e.what()));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (auto s = CheckKeys(root, "",
                         {"devices", "rate", "request_bytes", "response_bytes", "endpoint", "edge",
                          "cloud", "edge_link", "cloud_link"});
      !s.ok()) {
    return s;
  }
  if (auto s = Read(root, "devices", "", in.devices); !s.ok()) return s;
  if (auto s = Read(root, "rate", "", in.rate_per_s); !s.ok()) return s;
  if (auto s = Read(root, "request_bytes", "", in.request_bytes); !s.ok()) return s;
  if (auto s = Read(root, "response_bytes", "", in.response_bytes); !s.ok()) return s;
  if (auto s = ReadCompute(root, "endpoint", in.endpoint); !s.ok()) return s;
  if (auto s = ReadCompute(root, "edge", in.edge); !s.ok()) return s;
  if (auto s = ReadCompute(root, "cloud", in.cloud); !s.ok()) return s;
  if (auto s = ReadLink(root, "edge_link", in.edge_link); !s.ok()) return s;
  return ReadLink(root, "cloud_link", in.cloud_link);
}

nlohmann::json ToJson(const ModelInput& in, const ModelResult& result) {
  nlohmann::json j;
  j["input"] = {
      {"devices", in.devices},
      {"rate", in.rate_per_s},
      {"request_bytes", in.request_bytes},
      {"response_bytes", in.response_bytes},
      {"endpoint", {{"proc_ms", in.endpoint.proc_ms}, {"cores", in.endpoint.cores}}},
      {"edge", {{"proc_ms", in.edge.proc_ms}, {"cores", in.edge.cores}}},
      {"cloud", {{"proc_ms", in.cloud.proc_ms}, {"cores", in.cloud.cores}}},
      {"edge_link", {{"rtt_ms", in.edge_link.rtt_ms}, {"rate_mbit", in.edge_link.rate_mbit}}},
      {"cloud_link", {{"rtt_ms", in.cloud_link.rtt_ms}, {"rate_mbit", in.cloud_link.rate_mbit}}}};
  j["arrival_rate_per_s"] = result.arrival_rate_per_s;
  j["best_placement"] = result.best_placement;
  nlohmann::json placements = nlohmann::json::array();
  for (const auto& p : result.placements) {
    nlohmann::json loads = nlohmann::json::object();
    for (const auto& l : p.loads) loads[ResourceName(l.resource)] = l.load;
    placements.push_back({{"placement", p.placement},
                          {"loads", loads},
                          {"bottleneck", ResourceName(p.bottleneck)},
                          {"saturated", p.saturated},
                          {"first_order_ms", Num(p.first_order_ms)},
                          {"mean_latency_ms", Num(p.mean_latency_ms)},
                          {"network_ms", Num(p.network_ms)},
                          {"compute_ms", Num(p.compute_ms)}});
  }
  j["placements"] = placements;
  return j;
}

std::string ToTable(const ModelInput& in, const ModelResult& result) {
  std::string out =
      absl::StrCat("arrival rate: ", Fmt(result.arrival_rate_per_s, "%.2f"), " req/s (", in.devices,
                   " devices x ", Fmt(in.rate_per_s, "%.2f"), " req/s)\n");
  char line[256];
  std::snprintf(line, sizeof(line), "%-9s %-16s %-40s %12s %12s %10s %10s\n", "placement",
                "bottleneck", "loads", "first-order", "mean (M/M/c)", "network", "compute");
  out += line;
  for (const auto& p : result.placements) {
    std::string loads;
    for (const auto& l : p.loads) {
      if (!loads.empty()) loads += " ";
      static constexpr const char* kShort[] = {"endpoint-cpu", "edge-cpu", "cloud-cpu", "edge-net",
                                               "cloud-net"};
      loads += absl::StrCat(kShort[static_cast<int>(l.resource)], "=", Fmt(l.load, "%.2f"));
    }
    std::snprintf(line, sizeof(line), "%-9s %-16s %-40s %9s ms %9s ms %7s ms %7s ms%s\n",
                  p.placement.c_str(), ResourceName(p.bottleneck), loads.c_str(),
                  Fmt(p.first_order_ms).c_str(), Fmt(p.mean_latency_ms).c_str(),
                  Fmt(p.network_ms).c_str(), Fmt(p.compute_ms).c_str(),
                  p.saturated ? "  SATURATED" : "");
    out += line;
  }
  out += absl::StrCat("best placement: ", result.best_placement, "\n");
  return out;
}

}  // namespace stoa::tools::model
