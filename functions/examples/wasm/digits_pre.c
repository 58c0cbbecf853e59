/* Image pre-processor for the digits model (functions/examples/digits).
 * Two handlers: digits_pre_handle (below, JSON out) and digits_pixels_handle
 * (at the end, binary out, a pipeline stage).
 *
 * Request: either a PGM image (binary "P5" or plain "P2", any size, maxval
 * up to 65535) or exactly 64 raw bytes (an 8x8 grey image, 0-255, row-major).
 * Response: the KServe v2 request the digits model takes,
 *   {"inputs":[{"name":"pixels","shape":[1,64],"datatype":"FP32","data":[...]}]}
 * with 64 values 0-16, ink high, like the training set. A PGM is
 * reduced to 8x8 by averaging the pixels each cell covers and inverted when
 * its background is light (most scans are dark ink on white); raw 8x8 bytes
 * are taken as ink-high and only rescaled. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "example.h"

enum { kSide = 8, kMaxSide = 16384 };

typedef struct {
  const unsigned char* p;
  const unsigned char* end;
} Cursor;

static void skip_space_and_comments(Cursor* c) {
  while (c->p < c->end) {
    if (*c->p == '#') {
      while (c->p < c->end && *c->p != '\n') ++c->p;
    } else if (isspace(*c->p)) {
      ++c->p;
    } else {
      return;
    }
  }
}

/* Reads an unsigned decimal; returns -1 when there is none or it is too big. */
static long read_uint(Cursor* c) {
  skip_space_and_comments(c);
  long v = -1;
  while (c->p < c->end && isdigit(*c->p)) {
    v = (v < 0 ? 0 : v) * 10 + (*c->p++ - '0');
    if (v > 1000000) return -1;
  }
  return v;
}

/* Decodes a PGM into a malloc'd array of doubles in [0,1]. */
static const char* decode_pgm(const char* in, size_t len, double** pixels, long* w, long* h) {
  Cursor c = {(const unsigned char*)in + 2, (const unsigned char*)in + len};
  const int binary = in[1] == '5';
  *w = read_uint(&c);
  *h = read_uint(&c);
  const long maxval = read_uint(&c);
  if (*w <= 0 || *h <= 0 || *w > kMaxSide || *h > kMaxSide)
    return "PGM width/height missing or out of range";
  if (maxval <= 0 || maxval > 65535) return "PGM maxval missing or out of range (1-65535)";
  const size_t count = (size_t)*w * (size_t)*h;
  if (binary) {
    if (c.p >= c.end || !isspace(*c.p)) return "PGM header is not followed by whitespace";
    ++c.p;
    const size_t bytes = count * (maxval > 255 ? 2 : 1);
    if ((size_t)(c.end - c.p) < bytes) return "PGM pixel data is truncated";
  }
  double* px = malloc(count * sizeof(double));
  if (px == NULL) return "out of memory";
  for (size_t i = 0; i < count; ++i) {
    long v;
    if (!binary) {
      v = read_uint(&c);
      if (v < 0) {
        free(px);
        return "PGM pixel data is truncated or not numeric";
      }
    } else if (maxval > 255) {
      v = (long)c.p[0] << 8 | c.p[1];
      c.p += 2;
    } else {
      v = *c.p++;
    }
    if (v > maxval) {
      free(px);
      return "PGM pixel value above maxval";
    }
    px[i] = (double)v / (double)maxval;
  }
  *pixels = px;
  return NULL;
}

/* Averages the w x h image into 8x8 cells (nearest pixel when smaller). */
static void downsample(const double* px, long w, long h, double cells[kSide * kSide]) {
  for (int r = 0; r < kSide; ++r) {
    const long y0 = r * h / kSide, y1 = (r + 1) * h / kSide > y0 ? (r + 1) * h / kSide : y0 + 1;
    for (int col = 0; col < kSide; ++col) {
      const long x0 = col * w / kSide;
      const long x1 = (col + 1) * w / kSide > x0 ? (col + 1) * w / kSide : x0 + 1;
      double sum = 0;
      for (long y = y0; y < y1; ++y) {
        for (long x = x0; x < x1; ++x) sum += px[y * w + x];
      }
      cells[r * kSide + col] = sum / (double)((y1 - y0) * (x1 - x0));
    }
  }
}

/* The request as 8x8 cells in [0,1], ink high; an error message or NULL. */
static const char* to_cells(const char* in, size_t in_len, double cells[kSide * kSide]) {
  if (in_len >= 2 && in[0] == 'P' && (in[1] == '5' || in[1] == '2')) {
    double* px = NULL;
    long w = 0, h = 0;
    const char* pgm_err = decode_pgm(in, in_len, &px, &w, &h);
    if (pgm_err != NULL) return pgm_err;
    double mean = 0;
    for (long i = 0; i < w * h; ++i) mean += px[i];
    const int invert = mean / (double)(w * h) > 0.5;
    downsample(px, w, h, cells);
    free(px);
    for (int i = 0; i < kSide * kSide; ++i) {
      if (invert) cells[i] = 1.0 - cells[i];
    }
  } else if (in_len == kSide * kSide) {
    for (int i = 0; i < kSide * kSide; ++i) cells[i] = (unsigned char)in[i] / 255.0;
  } else {
    return "request is neither a PGM image (P5/P2) nor 64 raw bytes of an 8x8 image";
  }
  return NULL;
}

const char* digits_pre_handle(const char* in, size_t in_len, char** out, size_t* out_len) {
  *out = NULL;
  double cells[kSide * kSide];
  const char* err = to_cells(in, in_len, cells);
  if (err != NULL) return err;
  Buffer b = {0};
  buffer_printf(
      &b, "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":[");
  for (int i = 0; i < kSide * kSide; ++i) {
    buffer_printf(&b, "%s%d", i ? "," : "", (int)lround(cells[i] * 16.0));
  }
  buffer_printf(&b, "]}]}\n");
  if (b.failed) {
    free(b.data);
    return "out of memory";
  }
  *out = b.data;
  *out_len = b.len;
  return NULL;
}

/* The pipeline form (functions/examples/pipeline): the same 64 values as
 * the raw bytes of the digits model's input, FP32 little-endian [1,64]
 * (256 bytes), which the gateway hands to the next stage as the tensor. */
const char* digits_pixels_handle(const char* in, size_t in_len, char** out, size_t* out_len) {
  *out = NULL;
  double cells[kSide * kSide];
  const char* err = to_cells(in, in_len, cells);
  if (err != NULL) return err;
  float* values = malloc(sizeof(float) * kSide * kSide);
  if (values == NULL) return "out of memory";
  for (int i = 0; i < kSide * kSide; ++i) values[i] = (float)lround(cells[i] * 16.0);
  *out = (char*)values;
  *out_len = sizeof(float) * kSide * kSide;
  return NULL;
}
