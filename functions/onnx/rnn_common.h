// What the recurrent kernels (LSTM, GRU, RNN; kernels_rnn.cc) share:
// attributes, input checks, layout handling and the per-direction input
// projection. Internal to those kernels.
//
// Performance: the input projection X·Wᵀ (+ biases) of a whole sequence and
// direction is one GEMM ([seq·batch, input] × [input, gates·hidden]); each
// step then costs one GEMM over the batch for the recurrence (H·Rᵀ) and
// vectorized Eigen array math for the gates.
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/kernel_util.h"

namespace stoa::functions::onnx::rnn {

struct Config {
  int64_t hidden = 0;
  int dirs = 1;
  bool reverse = false;      // direction "reverse" (one direction, run backwards)
  bool batch_first = false;  // layout = 1
  float clip = 0.0f;         // 0: no clip
};

// Reads direction, hidden_size, layout, clip; refuses activations other than
// the op's defaults (`default_activations`, one direction's list) and
// activation_alpha/beta. INVALID_ARGUMENT naming the attribute.
absl::StatusOr<Config> ReadConfig(const Node& node,
                                  const std::vector<std::string>& default_activations);

// The inputs every recurrent op takes, checked and in layout 0:
// X [seq, batch, input], lens per batch row, initial states [dirs, batch,
// hidden] (zeros when omitted).
struct Sequence {
  int64_t seq = 0, batch = 0, input = 0;
  std::vector<float> x;
  std::vector<int64_t> lens;
};

// X = in[0], W = in[1] ([dirs, gates·hidden, input]), R = in[2]
// ([dirs, gates·hidden, hidden]), B = in[3] ([dirs, 2·gates·hidden],
// optional), sequence_lens = in[4] (optional, INT32/INT64, each in
// [0, seq]).
absl::StatusOr<Sequence> ReadSequence(const Node& node, KernelInputs in, const Config& config,
                                      int gates);

// An initial state input (initial_h, initial_c) in [dirs, batch, hidden], or
// zeros when omitted.
absl::StatusOr<std::vector<float>> ReadState(const Node& node, KernelInputs in, int i,
                                             const Config& config, const Sequence& s);

// B[dir]'s two halves (Wb, Rb), each gates·hidden long; zeros when B is
// omitted.
void ReadBias(KernelInputs in, int dir, int gates, int64_t hidden, std::vector<float>& wb,
              std::vector<float>& rb);

// X·W[dir]ᵀ + bias, [seq·batch, gates·hidden]. `bias` (nullable) has
// gates·hidden entries.
RowMajorMatrix ProjectInput(const Sequence& s, const Tensor& w, int dir, int gates, int64_t hidden,
                            const std::vector<float>& bias);

// The time index step t of direction `dir` reads for batch row b, or -1
// when the row's sequence has ended.
inline int64_t TimeIndex(const Config& c, int dir, const Sequence& s, int64_t t, int64_t b) {
  if (t >= s.lens[b]) return -1;
  const bool backwards = c.reverse || dir == 1;
  return backwards ? s.lens[b] - 1 - t : t;
}

// The outputs, from layout 0 (Y [seq, dirs, batch, hidden], states [dirs,
// batch, hidden]) to the node's layout; only as many as the node names.
std::vector<Tensor> MakeOutputs(const Node& node, const Config& c, const Sequence& s,
                                std::vector<float> y, std::vector<std::vector<float>> states);

// Checks that the node's outputs fit the memory budget before computing.
absl::Status CheckOutputs(const Config& c, const Sequence& s);

}  // namespace stoa::functions::onnx::rnn
