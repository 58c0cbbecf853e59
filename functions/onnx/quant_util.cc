#include "functions/onnx/quant_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/broadcast.h"
#include "functions/onnx/kernel_util.h"

namespace stoa::functions::onnx {
namespace {

std::string InputName(const Node& node, int i) {
  return i < static_cast<int>(node.input_names.size()) ? node.input_names[i] : absl::StrCat("#", i);
}

// A scalar, or one value per channel ([M], or [M, 1] / [1, N] as MatMulInteger
// allows): only the count is checked.
absl::Status CheckCount(const Node& node, int i, const Tensor& t, int64_t channels) {
  if (t.size() != 1 && t.size() != channels) {
    return absl::InvalidArgumentError(absl::StrCat("input '", InputName(node, i), "' has ",
                                                   t.size(), " values; expected 1 or ", channels));
  }
  return absl::OkStatus();
}

// 1.5 * 2^23: (v + k) - k rounds v to an integer, half to even, for |v| < 2^22.
constexpr float kRoundMagic = 12582912.0f;

}  // namespace

absl::Status ExpectQuantized(const Node& node, KernelInputs in, int i) {
  RETURN_IF_ERROR(ExpectPresent(in, i));
  const ElementType type = in[i]->type();
  if (type == ElementType::kUInt8 || type == ElementType::kInt8) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "input '", InputName(node, i), "' is ", ElementTypeName(type), "; expected UINT8 or INT8"));
}

absl::StatusOr<std::vector<int32_t>> ReadZeroPoint(const Node& node, KernelInputs in, int i,
                                                   ElementType data_type, int64_t channels) {
  if (!HasInput(in, i)) return std::vector<int32_t>{0};
  const Tensor& zp = *in[i];
  if (zp.type() != data_type) {
    return absl::InvalidArgumentError(absl::StrCat("zero point '", InputName(node, i), "' is ",
                                                   ElementTypeName(zp.type()), "; its data is ",
                                                   ElementTypeName(data_type)));
  }
  RETURN_IF_ERROR(CheckCount(node, i, zp, channels));
  std::vector<int32_t> out(static_cast<size_t>(zp.size()));
  if (zp.type() == ElementType::kUInt8) {
    std::copy(zp.uint8s().begin(), zp.uint8s().end(), out.begin());
  } else {
    std::copy(zp.int8s().begin(), zp.int8s().end(), out.begin());
  }
  return out;
}

absl::StatusOr<std::vector<float>> ReadScale(const Node& node, KernelInputs in, int i,
                                             int64_t channels) {
  RETURN_IF_ERROR(ExpectPresent(in, i));
  const Tensor& s = *in[i];
  if (s.type() != ElementType::kFloat32) {
    return absl::InvalidArgumentError(absl::StrCat("scale '", InputName(node, i), "' is ",
                                                   ElementTypeName(s.type()), "; expected FP32"));
  }
  RETURN_IF_ERROR(CheckCount(node, i, s, channels));
  for (float v : s.floats()) {
    if (!std::isfinite(v) || v <= 0.0f) {
      return absl::InvalidArgumentError(absl::StrCat("scale '", InputName(node, i), "' holds ", v,
                                                     "; scales must be finite and > 0"));
    }
  }
  return std::vector<float>(s.floats().begin(), s.floats().end());
}

void Recycle(std::vector<float>&& v) {
  if (BufferPool* pool = CurrentBufferPool()) pool->Give(std::move(v));
}

void Recycle(Tensor&& t) {
  if (t.type() == ElementType::kFloat32) Recycle(std::move(t).TakeFloatStorage());
}

std::vector<float> ShiftedFloats(const Tensor& t, std::span<const int32_t> zp, int64_t inner) {
  const auto n = static_cast<size_t>(t.size());
  BufferPool* pool = CurrentBufferPool();
  std::vector<float> out = pool != nullptr ? pool->Take(n) : std::vector<float>(n);
  const int64_t channels = static_cast<int64_t>(zp.size());
  auto shift = [&](auto zero) {
    using T = decltype(zero);
    std::span<const T> v = View<T>(t);
    if (channels == 1) {
      const float z = static_cast<float>(zp[0]);
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(v[i]) - z;
      return 0;
    }
    if (inner == 1) {  // per column: rows of `channels` values
      for (int64_t start = 0; start < t.size(); start += channels) {
        const int64_t len = std::min(channels, t.size() - start);
        for (int64_t c = 0; c < len; ++c) {
          out[start + c] = static_cast<float>(v[start + c]) - static_cast<float>(zp[c]);
        }
      }
      return 0;
    }
    for (int64_t run = 0; run * inner < t.size(); ++run) {
      const float z = static_cast<float>(zp[run % channels]);
      const int64_t end = std::min(t.size(), (run + 1) * inner);
      for (int64_t i = run * inner; i < end; ++i) out[i] = static_cast<float>(v[i]) - z;
    }
    return 0;
  };
  if (t.type() == ElementType::kUInt8) {
    shift(uint8_t{});
  } else {
    shift(int8_t{});
  }
  return out;
}

int64_t MaxAbs(std::span<const float> v) {
  // Eight independent maxima: the lanes of one vector register (a single
  // running maximum is a reduction GCC does not vectorise without
  // -ffinite-math-only).
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const size_t n = v.size(), body = n / 8 * 8;
  for (size_t i = 0; i < body; i += 8) {
    for (size_t j = 0; j < 8; ++j) lanes[j] = std::max(lanes[j], std::abs(v[i + j]));
  }
  float m = 0.0f;
  for (float x : lanes) m = std::max(m, x);
  for (size_t i = body; i < n; ++i) m = std::max(m, std::abs(v[i]));
  return static_cast<int64_t>(m);
}

absl::StatusOr<std::vector<int64_t>> ExactChunks(std::span<const int64_t> cost, int64_t scale) {
  std::vector<int64_t> bounds = {0};
  int64_t sum = 0;
  for (size_t u = 0; u < cost.size(); ++u) {
    const int64_t c = cost[u] * std::max<int64_t>(scale, 1);
    if (c >= kExactFloatSum) {
      return absl::InvalidArgumentError(
          absl::StrCat("one reduction unit can sum to ", c,
                       ", past what int32 accumulation through FP32 keeps exact (2^24)"));
    }
    if (sum + c >= kExactFloatSum) {
      bounds.push_back(static_cast<int64_t>(u));
      sum = 0;
    }
    sum += c;
  }
  bounds.push_back(static_cast<int64_t>(cost.size()));
  return bounds;
}

void Requantize(std::span<const int32_t> acc, std::span<const float> multiplier,
                std::span<const int32_t> zp, int64_t inner, Tensor& y) {
  const int64_t channels = static_cast<int64_t>(multiplier.size());
  auto run = [&](auto zero) {
    using T = decltype(zero);
    std::span<T> out = MutableView<T>(y);
    const int64_t n = static_cast<int64_t>(acc.size());
    for (int64_t start = 0; start < n; start += inner) {
      const int64_t c = channels == 1 ? 0 : (start / inner) % channels;
      const float m = multiplier[c];
      // Clamp in the shifted domain, then round: |v| stays far below 2^22,
      // where adding and subtracting 1.5 * 2^23 rounds half to even (the
      // default rounding mode) in a loop the compiler vectorises.
      const float lo = static_cast<float>(std::numeric_limits<T>::min() - zp[c]);
      const float hi = static_cast<float>(std::numeric_limits<T>::max() - zp[c]);
      const int32_t z = zp[c];
      const int64_t end = std::min(n, start + inner);
      const int32_t* in = acc.data();
      T* o = out.data();
      for (int64_t i = start; i < end; ++i) {
        const float v = std::min(std::max(static_cast<float>(in[i]) * m, lo), hi);
        const float r = (v + kRoundMagic) - kRoundMagic;
        o[i] = static_cast<T>(static_cast<int32_t>(r) + z);
      }
    }
    return 0;
  };
  if (y.type() == ElementType::kUInt8) {
    run(uint8_t{});
  } else {
    run(int8_t{});
  }
}

}  // namespace stoa::functions::onnx
