#include "functions/onnx/conv_depthwise.h"

#include <algorithm>
#include <vector>

#include "functions/onnx/parallel.h"

namespace stoa::functions::onnx {
namespace {

// First and one-past-last output column whose input column o * stride + off
// lies in [0, width).
inline void ValidColumns(int64_t off, int64_t stride, int64_t width, int64_t out, int64_t& lo,
                         int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  const int64_t last = width - 1 - off;  // o * stride <= last
  hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  lo = std::min(lo, hi);
}

// One output plane from one input plane.
void Plane(const float* x, const float* w, const WindowGeometry& g, float* y) {
  const int64_t in_h = g.in[0], in_w = g.in[1], out_h = g.out[0], out_w = g.out[1];
  const int64_t k_h = g.kernel[0], k_w = g.kernel[1];
  const int64_t s_h = g.stride[0], s_w = g.stride[1];
  const int64_t d_h = g.dilation[0], d_w = g.dilation[1];
  std::fill(y, y + out_h * out_w, 0.0f);
  for (int64_t oh = 0; oh < out_h; ++oh) {
    float* row = y + oh * out_w;
    for (int64_t kh = 0; kh < k_h; ++kh) {
      const int64_t ih = oh * s_h - g.pad_begin[0] + kh * d_h;
      if (ih < 0 || ih >= in_h) continue;
      const float* in_row = x + ih * in_w;
      for (int64_t kw = 0; kw < k_w; ++kw) {
        const float wv = w[kh * k_w + kw];
        const int64_t off = kw * d_w - g.pad_begin[1];
        int64_t lo = 0, hi = 0;
        ValidColumns(off, s_w, in_w, out_w, lo, hi);
        if (s_w == 1) {
          const float* src = in_row + off;
          for (int64_t ow = lo; ow < hi; ++ow) row[ow] += wv * src[ow];
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) row[ow] += wv * in_row[ow * s_w + off];
        }
      }
    }
  }
}

// Stride 1: the plane is copied once into a zero-padded buffer of width
// wp = w + pads; then every tap (kh, kw) is one long multiply-add over the
// flattened rows (out_h * wp values, the wp - out_w extra columns of each
// row are computed and dropped), instead of one short loop per output row.
void PlaneStride1(const float* x, const float* w, const WindowGeometry& g, float* y,
                  std::vector<float>& scratch) {
  const int64_t in_h = g.in[0], in_w = g.in[1], out_h = g.out[0], out_w = g.out[1];
  const int64_t k_h = g.kernel[0], k_w = g.kernel[1];
  const int64_t pt = g.pad_begin[0], pl = g.pad_begin[1];
  const int64_t wp = std::max(in_w + pl + g.pad_end[1], out_w + (k_w - 1) * g.dilation[1]);
  const int64_t hp = std::max(in_h + pt + g.pad_end[0], out_h + (k_h - 1) * g.dilation[0]);
  const int64_t acc_size = out_h * wp;
  scratch.assign(static_cast<size_t>(hp * wp + acc_size + wp), 0.0f);
  float* padded = scratch.data();
  float* acc = padded + hp * wp + wp;  // after a slack row: no overlap with src
  for (int64_t ih = 0; ih < in_h; ++ih) {
    std::copy(x + ih * in_w, x + (ih + 1) * in_w, padded + (ih + pt) * wp + pl);
  }
  for (int64_t kh = 0; kh < k_h; ++kh) {
    for (int64_t kw = 0; kw < k_w; ++kw) {
      const float wv = w[kh * k_w + kw];
      const float* src = padded + kh * g.dilation[0] * wp + kw * g.dilation[1];
      // Reads stay inside padded and the slack row after it: the last
      // row's extra columns run past hp * wp by less than wp.
      for (int64_t i = 0; i < acc_size; ++i) acc[i] += wv * src[i];
    }
  }
  for (int64_t oh = 0; oh < out_h; ++oh) {
    std::copy(acc + oh * wp, acc + oh * wp + out_w, y + oh * out_w);
  }
}

}  // namespace

bool IsDepthwise2D(int64_t channels, int64_t group, const WindowGeometry& g) {
  return g.spatial() == 2 && group == channels && group > 1;
}

void DepthwiseConv2D(const float* x, const float* w, const float* bias, const Activation& act,
                     int64_t batch, int64_t channels, int64_t maps, const WindowGeometry& g,
                     float* y) {
  const int64_t multiplier = maps / channels;
  const int64_t in_plane = g.in[0] * g.in[1], out_plane = g.out[0] * g.out[1];
  const int64_t k_size = g.kernel[0] * g.kernel[1];
  // Enough planes per chunk that a thread hop pays for itself.
  const int64_t min_chunk = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, out_plane * k_size));
  // The padded copy must stay about the size of the planes themselves: huge
  // pads with huge dilations (a hostile model) take the per-row path.
  const int64_t padded_h = std::max(g.in[0] + g.pad_begin[0] + g.pad_end[0],
                                    g.out[0] + (g.kernel[0] - 1) * g.dilation[0]);
  const int64_t padded_w = std::max(g.in[1] + g.pad_begin[1] + g.pad_end[1],
                                    g.out[1] + (g.kernel[1] - 1) * g.dilation[1]);
  const bool stride1 = g.stride[0] == 1 && g.stride[1] == 1 &&
                       padded_h <= 2 * (g.in[0] + g.out[0]) + 16 &&
                       padded_w <= 2 * (g.in[1] + g.out[1]) + 16;
  ParallelFor(batch * maps, min_chunk, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch;
    for (int64_t p = begin; p < end; ++p) {
      const int64_t n = p / maps, m = p % maps;
      const float* plane = x + (n * channels + m / multiplier) * in_plane;
      float* out = y + p * out_plane;
      if (stride1) {
        PlaneStride1(plane, w + m * k_size, g, out, scratch);
      } else {
        Plane(plane, w + m * k_size, g, out);
      }
      ApplyBiasActivation(act, bias != nullptr, bias != nullptr ? bias[m] : 0.0f, out, out_plane);
    }
  });
}

}  // namespace stoa::functions::onnx
