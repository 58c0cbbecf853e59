/* Post-processor for the digits model, the last stage of the pipeline
 * example (functions/examples/pipeline).
 *
 * Request: the model's output `probabilities` as the gateway passes a
 * tensor to a wasm stage: its raw bytes, FP32 little-endian, [N,10]
 * (N*40 bytes). Response: JSON, one answer per image,
 *   {"digits":[{"digit":3,"confidence":0.981},...]}
 * the arg-max of each row and its probability. */
#include <string.h>

#include "buffer.h"
#include "example.h"

enum { kClasses = 10 };

const char* digits_post_handle(const char* in, size_t in_len, char** out, size_t* out_len) {
  *out = NULL;
  const size_t row = sizeof(float) * kClasses;
  if (in_len == 0 || in_len % row != 0) {
    return "request is not FP32 [N,10] probabilities (a multiple of 40 bytes)";
  }
  Buffer b = {0};
  buffer_printf(&b, "{\"digits\":[");
  for (size_t r = 0; r < in_len / row; ++r) {
    float p[kClasses];
    memcpy(p, in + r * row, row);
    int best = 0;
    for (int i = 1; i < kClasses; ++i) {
      if (p[i] > p[best]) best = i;
    }
    buffer_printf(&b, "%s{\"digit\":%d,\"confidence\":%.4f}", r ? "," : "", best, (double)p[best]);
  }
  buffer_printf(&b, "]}\n");
  if (b.failed) {
    free(b.data);
    return "out of memory";
  }
  *out = b.data;
  *out_len = b.len;
  return NULL;
}
