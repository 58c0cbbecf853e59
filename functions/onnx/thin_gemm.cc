#include "functions/onnx/thin_gemm.h"

#include <Eigen/Core>

namespace stoa::functions::onnx {
namespace {
namespace ei = Eigen::internal;
using Packet = ei::packet_traits<float>::type;
constexpr int64_t kLanes = ei::packet_traits<float>::size;

// Rows [0, MR) of a against columns [0, NR) of bt: MR x NR packet
// accumulators over k, then the horizontal sums and the scalar tail.
template <int MR, int NR>
void Block(const float* a, int64_t k, const float* bt, int64_t ldb, float* y, int64_t ldy) {
  Packet acc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) acc[i][j] = ei::pset1<Packet>(0.0f);
  }
  int64_t t = 0;
  for (; t + kLanes <= k; t += kLanes) {
    Packet b[NR];
    for (int j = 0; j < NR; ++j) b[j] = ei::ploadu<Packet>(bt + j * ldb + t);
    for (int i = 0; i < MR; ++i) {
      const Packet av = ei::ploadu<Packet>(a + i * k + t);
      for (int j = 0; j < NR; ++j) acc[i][j] = ei::pmadd(av, b[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) {
      float s = ei::predux(acc[i][j]);
      for (int64_t r = t; r < k; ++r) s += a[i * k + r] * bt[j * ldb + r];
      y[i * ldy + j] = s;
    }
  }
}

template <int MR>
void Rows(const float* a, int64_t k, const float* bt, int64_t ldb, int64_t n, float* y,
          int64_t ldy) {
  int64_t j = 0;
  for (; j + 2 <= n; j += 2) Block<MR, 2>(a, k, bt + j * ldb, ldb, y + j, ldy);
  if (j < n) Block<MR, 1>(a, k, bt + j * ldb, ldb, y + j, ldy);
}
}  // namespace

void ThinGemm(const float* a, int64_t m, int64_t k, const float* bt, int64_t ldb, int64_t n,
              float* y, int64_t ldy) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) Rows<4>(a + i * k, k, bt, ldb, n, y + i * ldy, ldy);
  for (; i < m; ++i) Rows<1>(a + i * k, k, bt, ldb, n, y + i * ldy, ldy);
}

}  // namespace stoa::functions::onnx
