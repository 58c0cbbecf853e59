/* A growing output buffer for the examples (header-only, static functions). */
#ifndef STOA_FUNCTIONS_EXAMPLES_WASM_BUFFER_H_
#define STOA_FUNCTIONS_EXAMPLES_WASM_BUFFER_H_

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* On Stoa, strtod and the snprintf family run in the host (docs/wasm.md);
 * natively this header does nothing. Standard headers go above it. */
#include "stoa_libc.h"

typedef struct {
  char* data;
  size_t len, cap;
  int failed;
} Buffer;

static void buffer_printf(Buffer* b, const char* fmt, ...) {
  for (;;) {
    size_t room = b->cap - b->len;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? room : 0, fmt, args);
    va_end(args);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if (b->data != NULL && (size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap - b->len <= (size_t)n) cap *= 2;
    char* data = realloc(b->data, cap);
    if (data == NULL) {
      b->failed = 1;
      return;
    }
    b->data = data;
    b->cap = cap;
  }
}

#endif
