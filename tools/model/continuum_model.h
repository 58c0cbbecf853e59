// The analytical model of `stoa model`: Continuum's first-order model of
// load and latency on the endpoint–edge–cloud continuum, extended with
// M/M/c queueing (Erlang C) for compute and M/M/1 for each link direction.
//
// The endpoint placement is evaluated only when endpoint.proc_ms > 0 (the
// devices can run the function at all).
// A fleet of `devices` endpoints each sends `rate_per_s` requests/s of
// `request_bytes` and gets `response_bytes` back. A request is processed on
// exactly one placement:
//   endpoint: on the device itself (no network);
//   edge:     edge link -> edge compute;
//   cloud:    cloud link -> cloud compute.
// As in Continuum and in Stoa's testbed (deploy/testbed: gateway -> linkem
// -> executor per tier), each placement crosses only its own link; the hop
// from the device to the gateway is not modelled.
// Compute with fractional `cores` (a CPU quota) is modelled as
// c = ceil(cores) servers, each running at cores / c of a core.
//
// Per placement the model reports the load (demand / capacity) of every
// resource the placement uses, the bottleneck (the most loaded one), the
// first-order latency (RTTs + serialisation + processing, no queueing) and
// the M/M/c mean latency (plus queueing waits). A load >= 1 makes the
// placement saturated: its latencies are +infinity.
//
// Evaluate is pure and thread-safe; bad input (negative or zero rates,
// bandwidths, cores) is INVALID_ARGUMENT naming the field.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::tools::model {

struct ComputeSpec {
  double proc_ms = 0;  // service time of one request on one full core
  double cores = 1;    // CPU cores or quota (0.5 = half a core)
};

struct LinkSpec {
  double rtt_ms = 0;        // round trip (twice the one-way delay)
  double rate_mbit = 1000;  // bandwidth per direction
};

struct ModelInput {
  int devices = 1;
  double rate_per_s = 1;  // per device
  double request_bytes = 0;
  double response_bytes = 0;
  ComputeSpec endpoint{0, 1};  // proc_ms 0: no endpoint placement
  ComputeSpec edge{1, 1};
  ComputeSpec cloud{1, 4};
  LinkSpec edge_link{15, 1000};
  LinkSpec cloud_link{90, 7.21};
};

enum class Resource { kEndpointCompute, kEdgeCompute, kCloudCompute, kEdgeNetwork, kCloudNetwork };
const char* ResourceName(Resource r);

struct ResourceLoad {
  Resource resource;
  double load = 0;  // demand / capacity
};

struct PlacementResult {
  std::string placement;  // "endpoint" | "edge" | "cloud"
  std::vector<ResourceLoad> loads;
  Resource bottleneck = Resource::kEndpointCompute;
  bool saturated = false;
  double first_order_ms = 0;
  double mean_latency_ms = 0;  // first order + queueing waits
  double network_ms = 0;       // part of mean_latency_ms spent on links
  double compute_ms = 0;       // part spent waiting for and on compute
};

struct ModelResult {
  double arrival_rate_per_s = 0;            // whole fleet
  std::vector<PlacementResult> placements;  // [endpoint,] edge, cloud
  std::string best_placement;               // lowest mean latency
};

absl::Status Validate(const ModelInput& in);
absl::StatusOr<ModelResult> Evaluate(const ModelInput& in);

// Mean sojourn time (wait + service) in ms of `lambda` req/s at a compute
// tier; +infinity when saturated.
double ComputeSojournMs(const ComputeSpec& spec, double lambda);
// Mean time in ms of one message of `bytes` on one direction of a link
// carrying `lambda` such messages per second (M/M/1 on serialisation);
// does not include propagation. +infinity when saturated.
double LinkTransferMs(const LinkSpec& link, double bytes, double lambda);

}  // namespace stoa::tools::model
