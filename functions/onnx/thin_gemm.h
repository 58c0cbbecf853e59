// A product with very few columns: y = a * b where b has at most a few
// dozen columns (a Conv with few output positions, e.g. an STFT framed as a
// strided Conv over 8 frames). Eigen's GEMM packs all of `a` on every call,
// which for a 257 x 512 weight matrix and 8 columns costs more than the
// arithmetic; here each block of `a`'s rows is read once, in place, against
// the transposed columns held in L1.
//
// Thread safety: a plain function.
#pragma once

#include <cstdint>

namespace stoa::functions::onnx {

// y[i * ldy + j] = sum_t a[i * k + t] * bt[j * ldb + t] for i < m, j < n:
// a is m x k row-major, bt is b transposed (n rows of k, ldb apart; rows
// may overlap, e.g. the strided windows of a 1-D signal).
void ThinGemm(const float* a, int64_t m, int64_t k, const float* bt, int64_t ldb, int64_t n,
              float* y, int64_t ldy);

}  // namespace stoa::functions::onnx
