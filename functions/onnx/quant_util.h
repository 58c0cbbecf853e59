// Helpers shared by the integer kernels (kernels_qlinear.cc: MatMulInteger,
// QLinearMatMul; kernels_qconv.cc: ConvInteger, QLinearConv) and by their
// load-time checks (quant_validate.h): reading scales and zero points,
// turning UINT8/INT8 operands into zero-point-shifted floats, splitting a
// reduction so that FP32 accumulation stays exact, and requantizing int32
// accumulators.
//
// Why FP32 GEMM for integer ops: after the zero point is subtracted every
// operand is an integer in [-255, 255], products are exact in FP32 and so is
// every partial sum below 2^24. The kernels bound the partial sums from the
// operands (largest |a - a_zp| times the L1 norm of each weight row) and,
// where the bound could pass 2^24, split the reduction into chunks that stay
// under it and add the chunks in int32. The result is exactly ONNX's int32
// accumulation, computed by the tuned FP32 GEMM / convolution paths.
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/node.h"
#include "functions/onnx/tensor.h"

namespace stoa::functions::onnx {

// Integer-valued FP32 sums strictly below this are exact.
inline constexpr int64_t kExactFloatSum = int64_t{1} << 24;

// INVALID_ARGUMENT naming input i unless it is present and UINT8 or INT8.
absl::Status ExpectQuantized(const Node& node, KernelInputs in, int i);

// Zero point input i (optional: absent gives {0}). It must have the type of
// the data it belongs to (`data_type`) and hold 1 or `channels` values.
// Returns one int32 per value.
absl::StatusOr<std::vector<int32_t>> ReadZeroPoint(const Node& node, KernelInputs in, int i,
                                                   ElementType data_type, int64_t channels);

// Scale input i: FP32, 1 or `channels` values, each finite and > 0.
absl::StatusOr<std::vector<float>> ReadScale(const Node& node, KernelInputs in, int i,
                                             int64_t channels);

// The elements of a UINT8/INT8 tensor as float, minus zp[(i / inner) %
// zp.size()] (zp.size() == 1: one zero point for all). The buffer comes
// from the current BufferPool when there is one (Recycle gives it back).
std::vector<float> ShiftedFloats(const Tensor& t, std::span<const int32_t> zp, int64_t inner);

// Gives an FP32 tensor's buffer (a temporary of the integer kernels) back
// to the current thread's BufferPool, if there is one; else drops it.
void Recycle(Tensor&& t);
void Recycle(std::vector<float>&& v);

// max |v| over a shifted buffer, as an integer.
int64_t MaxAbs(std::span<const float> v);

// Splits units [0, cost.size()) into consecutive ranges [bounds[j],
// bounds[j+1]) whose summed cost, times `scale`, stays below
// kExactFloatSum. INVALID_ARGUMENT when a single unit is already too large.
absl::StatusOr<std::vector<int64_t>> ExactChunks(std::span<const int64_t> cost, int64_t scale);

// y[i] = saturate(round_half_even(acc[i] * multiplier[c]) + zp[c]) with
// c = (i / inner) % channels (channels == multiplier.size() == zp.size()).
// Writes `type` (UINT8 or INT8) into y.
void Requantize(std::span<const int32_t> acc, std::span<const float> multiplier,
                std::span<const int32_t> zp, int64_t inner, Tensor& y);

}  // namespace stoa::functions::onnx
