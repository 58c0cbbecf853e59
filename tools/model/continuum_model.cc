#include "tools/model/continuum_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "tools/model/queueing.h"

namespace stoa::tools::model {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double SerialisationMs(const LinkSpec& link, double bytes) {
  return bytes * 8.0 / (link.rate_mbit * 1e6) * 1e3;
}

absl::Status Positive(double v, const char* field) {
  if (!(v > 0) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be > 0, got ", v));
  }
  return absl::OkStatus();
}

absl::Status NonNegative(double v, const char* field) {
  if (!(v >= 0) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be >= 0, got ", v));
  }
  return absl::OkStatus();
}

}  // namespace

const char* ResourceName(Resource r) {
  switch (r) {
    case Resource::kEndpointCompute:
      return "endpoint compute";
    case Resource::kEdgeCompute:
      return "edge compute";
    case Resource::kCloudCompute:
      return "cloud compute";
    case Resource::kEdgeNetwork:
      return "edge network";
    case Resource::kCloudNetwork:
      return "cloud network";
  }
  return "?";
}

absl::Status Validate(const ModelInput& in) {
  if (in.devices < 1) {
    return absl::InvalidArgumentError(absl::StrCat("devices must be >= 1, got ", in.devices));
  }
  for (auto [v, f] : {std::pair{in.rate_per_s, "rate"},
                      {in.endpoint.cores, "endpoint.cores"},
                      {in.edge.cores, "edge.cores"},
                      {in.cloud.cores, "cloud.cores"},
                      {in.edge_link.rate_mbit, "edge_link.rate_mbit"},
                      {in.cloud_link.rate_mbit, "cloud_link.rate_mbit"}}) {
    if (auto s = Positive(v, f); !s.ok()) return s;
  }
  for (auto [v, f] : {std::pair{in.request_bytes, "request_bytes"},
                      {in.response_bytes, "response_bytes"},
                      {in.endpoint.proc_ms, "endpoint.proc_ms"},
                      {in.edge.proc_ms, "edge.proc_ms"},
                      {in.cloud.proc_ms, "cloud.proc_ms"},
                      {in.edge_link.rtt_ms, "edge_link.rtt_ms"},
                      {in.cloud_link.rtt_ms, "cloud_link.rtt_ms"}}) {
    if (auto s = NonNegative(v, f); !s.ok()) return s;
  }
  return absl::OkStatus();
}

double ComputeSojournMs(const ComputeSpec& spec, double lambda) {
  const int c = std::max(1, static_cast<int>(std::ceil(spec.cores - 1e-9)));
  const double service_ms = spec.proc_ms * c / spec.cores;
  if (service_ms <= 0) return 0;
  const double mu = 1e3 / service_ms;  // per server, per second
  auto wait_s = MmcMeanWait(c, lambda, mu);
  if (!wait_s.ok()) return kInf;
  return *wait_s * 1e3 + service_ms;
}

double LinkTransferMs(const LinkSpec& link, double bytes, double lambda) {
  const double s_ms = SerialisationMs(link, bytes);
  if (s_ms <= 0) return 0;
  const double rho = lambda * s_ms / 1e3;
  if (rho >= 1) return kInf;
  return s_ms / (1 - rho);  // M/M/1 sojourn: s / (1 - rho)
}

absl::StatusOr<ModelResult> Evaluate(const ModelInput& in) {
  if (auto s = Validate(in); !s.ok()) return s;
  ModelResult out;
  const double per_device = in.rate_per_s;
  const double fleet = in.rate_per_s * in.devices;
  out.arrival_rate_per_s = fleet;

  auto compute_load = [](const ComputeSpec& spec, double lambda) {
    return lambda * spec.proc_ms / 1e3 / spec.cores;
  };
  auto link_load = [&](const LinkSpec& link, double lambda) {
    const double bytes = std::max(in.request_bytes, in.response_bytes);
    return lambda * SerialisationMs(link, bytes) / 1e3;
  };
  auto link_terms = [&](const LinkSpec& link, double lambda, double& first, double& mean) {
    first += link.rtt_ms + SerialisationMs(link, in.request_bytes) +
             SerialisationMs(link, in.response_bytes);
    mean += link.rtt_ms + LinkTransferMs(link, in.request_bytes, lambda) +
            LinkTransferMs(link, in.response_bytes, lambda);
  };

  auto finish = [](PlacementResult& p) {
    auto it = std::max_element(p.loads.begin(), p.loads.end(),
                               [](const auto& a, const auto& b) { return a.load < b.load; });
    p.bottleneck = it->resource;
    p.saturated = it->load >= 1.0;
    if (p.saturated) p.mean_latency_ms = kInf;
  };

  if (in.endpoint.proc_ms > 0) {
    PlacementResult p;
    p.placement = "endpoint";
    p.loads = {{Resource::kEndpointCompute, compute_load(in.endpoint, per_device)}};
    p.first_order_ms = in.endpoint.proc_ms / std::min(1.0, in.endpoint.cores);
    p.compute_ms = ComputeSojournMs(in.endpoint, per_device);
    p.mean_latency_ms = p.compute_ms;
    finish(p);
    out.placements.push_back(p);
  }
  {
    PlacementResult p;
    p.placement = "edge";
    p.loads = {{Resource::kEdgeNetwork, link_load(in.edge_link, fleet)},
               {Resource::kEdgeCompute, compute_load(in.edge, fleet)}};
    double first = 0, net = 0;
    link_terms(in.edge_link, fleet, first, net);
    p.first_order_ms = first + in.edge.proc_ms / std::min(1.0, in.edge.cores);
    p.network_ms = net;
    p.compute_ms = ComputeSojournMs(in.edge, fleet);
    p.mean_latency_ms = net + p.compute_ms;
    finish(p);
    out.placements.push_back(p);
  }
  {
    PlacementResult p;
    p.placement = "cloud";
    p.loads = {{Resource::kCloudNetwork, link_load(in.cloud_link, fleet)},
               {Resource::kCloudCompute, compute_load(in.cloud, fleet)}};
    double first = 0, net = 0;
    link_terms(in.cloud_link, fleet, first, net);
    p.first_order_ms = first + in.cloud.proc_ms / std::min(1.0, in.cloud.cores);
    p.network_ms = net;
    p.compute_ms = ComputeSojournMs(in.cloud, fleet);
    p.mean_latency_ms = net + p.compute_ms;
    finish(p);
    out.placements.push_back(p);
  }
  double best = kInf;
  for (const auto& p : out.placements) {
    if (p.mean_latency_ms < best) {
      best = p.mean_latency_ms;
      out.best_placement = p.placement;
    }
  }
  if (out.best_placement.empty()) out.best_placement = "none (all saturated)";
  return out;
}

}  // namespace stoa::tools::model
