// IEEE 754 half precision (binary16, KServe's FP16) to and from float.
// The engine has no FP16 kernels: FP16 tensors cross the API as FP16 and
// are widened to FP32 at the engine boundary (functions/onnx/wire_tensor.h);
// the JSON codec narrows JSON numbers to FP16 with these too.
//
// FloatToHalf rounds to nearest, ties to even; values beyond the FP16 range
// become infinities, NaN stays NaN. HalfToFloat is exact.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>

namespace stoa::common {

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // ±0
  } else {
    int e = 113;  // subnormal: normalize
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

inline uint16_t FloatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds past 65504: inf
  if (abs < 0x38800000u) {                        // below the smallest normal half
    if (abs < 0x33000000u) return sign;           // rounds to 0
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(abs >> 23);  // 14..24
    const uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t midpoint = 1u << (shift - 1);
    const uint32_t rounded = half + ((rest > midpoint || (rest == midpoint && (half & 1))) ? 1 : 0);
    return static_cast<uint16_t>(sign | rounded);
  }
  const uint32_t rebased = abs - 0x38000000u;  // exponent 127 -> 15
  const uint32_t half = rebased >> 13;
  const uint32_t rest = rebased & 0x1fffu;
  const uint32_t rounded = half + ((rest > 0x1000u || (rest == 0x1000u && (half & 1))) ? 1 : 0);
  return static_cast<uint16_t>(sign | rounded);
}

}  // namespace stoa::common
