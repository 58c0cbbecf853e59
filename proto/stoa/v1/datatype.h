// Bytes per element of each tensor datatype of tensor.proto, in one place.
#pragma once

#include <cstddef>

#include "stoa/v1/tensor.pb.h"

namespace stoa::v1 {

// 0 for DATA_TYPE_UNSPECIFIED (or a value this build does not know).
inline size_t DataTypeBytes(DataType type) {
  switch (type) {
    case FP64:
    case INT64:
      return 8;
    case FP32:
    case INT32:
      return 4;
    case FP16:
      return 2;
    case UINT8:
    case INT8:
    case BOOL:
      return 1;
    default:
      return 0;
  }
}

}  // namespace stoa::v1
