// Per-node profile of the CPU engine, for finding what dominates a model.
//
// Off unless the environment variable STOA_ONNX_PROFILE is set to a
// positive number N when the process first runs a graph: then RunGraph
// times every node and adds the time to a process-wide table keyed by op
// type and by node, and the table is printed to stderr when the process
// exits (or when PrintProfile is called): time per op type, then the top N
// nodes. When off, RunGraph pays one predictable branch per node.
//
// Thread safety: Record, PrintProfile and ResetProfile may be called from
// any thread (the table is behind a mutex; Record is only reached when
// profiling is on).
#pragma once

#include <cstdint>
#include <cstdio>

#include "functions/onnx/node.h"

namespace stoa::functions::onnx {

// True when STOA_ONNX_PROFILE asks for a profile (read once).
bool ProfilingEnabled();

// Adds one run of `node` that took `nanos`.
void RecordNodeTime(const Node& node, int64_t nanos);

// Prints the table gathered so far (op types by total time, then the
// `top_nodes` slowest nodes; 0 means the N of STOA_ONNX_PROFILE) to `out`.
void PrintProfile(std::FILE* out, int top_nodes = 0);

// Forgets everything recorded (e.g. after a warm-up).
void ResetProfile();

}  // namespace stoa::functions::onnx
