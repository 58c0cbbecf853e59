/* The same handler as a Stoa Wasm example, native, against musl (the libc
 * that wasi-libc is built from) instead of glibc: it separates what the Wasm
 * runtime costs from what the guest's libc costs (stoa-bench-wasm's
 * "musl" row, docs/performance.md § Wasm).
 *
 *   stoa-example-musl-NAME            request on stdin, response on stdout
 *   stoa-example-musl-NAME ITERATIONS request on stdin; prints
 *                                     "p50_us cpu_us n" for ITERATIONS calls
 *                                     (up to 3 s), nothing else */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"

static double now_us(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  size_t cap = 4096, len = 0, n;
  char* in = malloc(cap);
  while (in != NULL && (n = fread(in + len, 1, cap - len, stdin)) > 0) {
    len += n;
    if (len == cap) in = realloc(in, cap *= 2);
  }
  if (in == NULL) return 2;
  char* out = NULL;
  size_t out_len = 0;
  const int iterations = argc > 1 ? atoi(argv[1]) : 0;
  if (iterations <= 0) {
    const char* err = STOA_HANDLER(in, len, &out, &out_len);
    if (err != NULL) {
      fprintf(stderr, "%s\n", err);
      return 2;
    }
    fwrite(out, 1, out_len, stdout);
    return 0;
  }
  double* lat = malloc(sizeof(double) * (size_t)iterations);
  const double start = now_us(CLOCK_MONOTONIC), cpu0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
  int done = 0;
  while (done < iterations && now_us(CLOCK_MONOTONIC) - start < 3e6) {
    const double t0 = now_us(CLOCK_MONOTONIC);
    if (STOA_HANDLER(in, len, &out, &out_len) != NULL) return 2;
    free(out);
    lat[done++] = now_us(CLOCK_MONOTONIC) - t0;
  }
  const double cpu = (now_us(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / done;
  qsort(lat, (size_t)done, sizeof(double), by_value);
  printf("%.2f %.2f %d\n", lat[done / 2], cpu, done);
  return 0;
}
