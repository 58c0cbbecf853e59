#include "functions/onnx/im2col.h"

#include <cstring>
#include <vector>

#include "functions/onnx/kernel_util.h"

namespace stoa::functions::onnx {
namespace {

// Fills columns [0, end - begin) of col (rows channels * prod(kernel),
// row stride ld) with the windows of output positions [begin, end) of x
// (channels planes of prod(in) values).
void Im2ColGeneric(const float* x, int64_t channels, const WindowGeometry& g, int64_t begin,
                   int64_t end, float* col, int64_t ld) {
  const int64_t s = g.spatial();
  const int64_t width = end - begin;
  const int64_t in_plane = DimProduct(g.in, 0, g.in.size());
  const int64_t kernel_size = DimProduct(g.kernel, 0, g.kernel.size());
  const std::vector<int64_t> in_strides = Strides(g.in);
  // base[p * s + d]: input coordinate of output position p's window origin.
  std::vector<int64_t> base(static_cast<size_t>(width * s));
  std::vector<int64_t> o(s, 0);
  {
    int64_t rest = begin;
    for (int64_t d = s; d-- > 0;) {
      o[d] = rest % g.out[d];
      rest /= g.out[d];
    }
  }
  for (int64_t p = 0; p < width; ++p) {
    for (int64_t d = 0; d < s; ++d) base[p * s + d] = o[d] * g.stride[d] - g.pad_begin[d];
    for (int64_t d = s; d-- > 0;) {
      if (++o[d] < g.out[d]) break;
      o[d] = 0;
    }
  }
  std::vector<int64_t> k(s, 0);
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = x + c * in_plane;
    std::fill(k.begin(), k.end(), 0);
    for (int64_t kk = 0; kk < kernel_size; ++kk) {
      float* row = col + (c * kernel_size + kk) * ld;
      for (int64_t p = 0; p < width; ++p) {
        int64_t off = 0;
        bool inside = true;
        for (int64_t d = 0; d < s; ++d) {
          const int64_t i = base[p * s + d] + k[d] * g.dilation[d];
          if (i < 0 || i >= g.in[d]) {
            inside = false;
            break;
          }
          off += i * in_strides[d];
        }
        row[p] = inside ? plane[off] : 0.0f;
      }
      for (int64_t d = s; d-- > 0;) {
        if (++k[d] < g.kernel[d]) break;
        k[d] = 0;
      }
    }
  }
}

// The 2-D case, one output row segment at a time: the positions of a
// segment share an input row, so the valid middle is a memcpy (stride 1)
// or a strided gather, and only the padded ends are zero-filled.
// Short runs (the late layers of small CNNs have output rows of 2-8
// positions) are copied inline: a libc call per 2 floats cost more than the
// copy. (GCC would turn these loops back into memset/memcpy calls; Im2Col2D
// carries the same attribute so that they inline.)
#if defined(__GNUC__) && !defined(__clang__)
#define STOA_INLINE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define STOA_INLINE_LOOPS
#endif
STOA_INLINE_LOOPS inline void FillZero(float* out, int64_t n) {
  if (n <= 0) return;
  if (n > 16) {
    std::fill(out, out + n, 0.0f);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = 0.0f;
}

STOA_INLINE_LOOPS inline void CopyRun(float* out, const float* in, int64_t n) {
  if (n <= 0) return;
  if (n > 16) {
    std::memcpy(out, in, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = in[i];
}

STOA_INLINE_LOOPS void Im2Col2D(const float* x, int64_t channels, const WindowGeometry& g,
                                int64_t begin, int64_t end, float* col, int64_t ld) {
  const int64_t h = g.in[0], w = g.in[1], ow_n = g.out[1];
  const int64_t kh_n = g.kernel[0], kw_n = g.kernel[1];
  const int64_t sh = g.stride[0], sw = g.stride[1];
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = x + c * h * w;
    for (int64_t kh = 0; kh < kh_n; ++kh) {
      const int64_t dh = kh * g.dilation[0] - g.pad_begin[0];
      for (int64_t kw = 0; kw < kw_n; ++kw) {
        float* row = col + ((c * kh_n + kh) * kw_n + kw) * ld;
        const int64_t dw = kw * g.dilation[1] - g.pad_begin[1];
        // Output columns whose input column ow * sw + dw lies in [0, w).
        const int64_t first = dw >= 0 ? 0 : (-dw + sw - 1) / sw;
        const int64_t last = w - 1 - dw < 0 ? -1 : (w - 1 - dw) / sw;  // inclusive
        for (int64_t p = begin; p < end;) {
          const int64_t oh = p / ow_n, ow0 = p % ow_n;
          const int64_t ow1 = std::min(ow_n, ow0 + (end - p));
          float* out = row + (p - begin);
          const int64_t ih = oh * sh + dh;
          if (ih < 0 || ih >= h) {
            FillZero(out, ow1 - ow0);
          } else {
            const int64_t lo = std::clamp(first, ow0, ow1);
            const int64_t hi = std::clamp(last + 1, lo, ow1);
            FillZero(out, lo - ow0);
            const float* in_row = plane + ih * w;
            if (sw == 1) {
              CopyRun(out + (lo - ow0), in_row + lo + dw, hi - lo);
            } else {
              for (int64_t o = lo; o < hi; ++o) out[o - ow0] = in_row[o * sw + dw];
            }
            FillZero(out + (hi - ow0), ow1 - hi);
          }
          p += ow1 - ow0;
        }
      }
    }
  }
}

}  // namespace

void Im2Col(const float* x, int64_t channels, const WindowGeometry& g, int64_t begin, int64_t end,
            float* col, int64_t ld) {
  if (g.spatial() == 2) {
    Im2Col2D(x, channels, g, begin, end, col, ld);
  } else if (g.spatial() == 1) {  // a 1-D window is a 2-D one of height 1
    const WindowGeometry g2 = {{1, g.in[0]},     {1, g.kernel[0]},   {1, g.out[0]},
                               {1, g.stride[0]}, {1, g.dilation[0]}, {0, g.pad_begin[0]},
                               {0, g.pad_end[0]}};
    Im2Col2D(x, channels, g2, begin, end, col, ld);
  } else {
    Im2ColGeneric(x, channels, g, begin, end, col, ld);
  }
}

}  // namespace stoa::functions::onnx
