/* Stoa's host C library routines for Wasm functions written in C.
 *
 * Include this after the standard headers in a module built for wasm32-wasi
 * and strtod, atof, snprintf, vsnprintf, sprintf and vsprintf run in the
 * host (glibc, natively) instead of as wasi-libc's musl code compiled to
 * Wasm, qsort is an introsort compiled into the module instead of musl's
 * smoothsort, and strchr an inlined byte loop (docs/wasm.md has the
 * figures).
 * The module then imports from `stoa_libc` besides `wasi_snapshot_preview1`,
 * which Stoa's runtime provides (functions/wasm/host_libc.h); it runs only
 * on Stoa. The results are those of the C standard in the C locale; what
 * the host leaves to the guest (%n, %p, %a, long double, positional
 * arguments, very long numbers or fields) runs wasi-libc's own routine, so
 * every format keeps working. A pointer outside linear memory traps, as the
 * guest's own access would.
 *
 * qsort: musl's smoothsort calls the comparator through a function table
 * and moves elements a byte at a time; this header's introsort (median of
 * three, insertion sort below 16, heapsort past 2 log2 n levels) is
 * inlined at each call site, so a constant comparator becomes a direct,
 * inlinable call, and moves 4- and 8-byte elements whole. Like any qsort
 * it is not stable. STOA_LIBC_NO_SORT keeps wasi-libc's.
 *
 * Outside wasm32 (a native build of the same source), or with
 * STOA_LIBC_NO_HOST defined, the header does nothing.
 */
#ifndef STOA_WASM_GUEST_STOA_LIBC_H_
#define STOA_WASM_GUEST_STOA_LIBC_H_

#if defined(__wasm32__) && !defined(STOA_LIBC_NO_HOST)

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STOA_LIBC_IMPORT(name) __attribute__((import_module("stoa_libc"), import_name(#name)))

STOA_LIBC_IMPORT(strtod) int __stoa_libc_strtod(const char* s, char** end, double* out);
STOA_LIBC_IMPORT(vsnprintf)
int __stoa_libc_vsnprintf(char* s, size_t n, const char* fmt, va_list ap);

/* The host declines an input it would spend unbounded time on; the
 * guest's own routine then runs it, under the function's deadline. */
#define STOA_LIBC_DECLINED (-2)

static inline double stoa_strtod(const char* restrict s, char** restrict end) {
  double v = 0;
  int r = __stoa_libc_strtod(s, end, &v);
  if (r == STOA_LIBC_DECLINED) return strtod(s, end);
  if (r != 0) errno = r;
  return v;
}

static inline double stoa_atof(const char* s) { return stoa_strtod(s, NULL); }

static inline int stoa_vsnprintf(char* restrict s, size_t n, const char* restrict fmt, va_list ap) {
  int r = __stoa_libc_vsnprintf(s, n, fmt, ap);
  if (r == STOA_LIBC_DECLINED) return vsnprintf(s, n, fmt, ap);
  if (r < 0) errno = EOVERFLOW;
  return r;
}

static inline int stoa_snprintf(char* restrict s, size_t n, const char* restrict fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = stoa_vsnprintf(s, n, fmt, ap);
  va_end(ap);
  return r;
}

static inline int stoa_vsprintf(char* restrict s, const char* restrict fmt, va_list ap) {
  return stoa_vsnprintf(s, INT_MAX, fmt, ap);
}

static inline int stoa_sprintf(char* restrict s, const char* restrict fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = stoa_vsnprintf(s, INT_MAX, fmt, ap);
  va_end(ap);
  return r;
}

/* strchr: a byte loop the compiler inlines. With a constant set (the usual
 * strchr("+-.0123456789", c)) it becomes a few compares; clang would
 * otherwise turn it into a call of musl's memchr, whose word-at-a-time
 * set-up costs more than the search on such short strings. */
static inline __attribute__((always_inline)) char* stoa_strchr(const char* s, int c) {
  const char ch = (char)c;
  for (;; ++s) {
    if (*s == ch) return (char*)s;
    if (*s == '\0') return NULL;
  }
}

#define strtod(s, end) stoa_strtod((s), (end))
#define strchr(s, c) stoa_strchr((s), (c))
#define atof(s) stoa_atof((s))
#define vsnprintf(...) stoa_vsnprintf(__VA_ARGS__)
#define snprintf(...) stoa_snprintf(__VA_ARGS__)
#define vsprintf(...) stoa_vsprintf(__VA_ARGS__)
#define sprintf(...) stoa_sprintf(__VA_ARGS__)

#ifndef STOA_LIBC_NO_SORT

/* Swaps two elements of `size` bytes, word-wise where the size allows. */
static inline __attribute__((always_inline)) void stoa_swap(char* a, char* b, size_t size) {
  if (size == 8) {
    unsigned long long t;
    memcpy(&t, a, 8);
    memcpy(a, b, 8);
    memcpy(b, &t, 8);
  } else if (size == 4) {
    unsigned t;
    memcpy(&t, a, 4);
    memcpy(a, b, 4);
    memcpy(b, &t, 4);
  } else {
    for (size_t i = 0; i < size; ++i) {
      char t = a[i];
      a[i] = b[i];
      b[i] = t;
    }
  }
}

/* Introsort: median-of-three quicksort on the larger part in a loop and
 * the smaller recursively (so the stack is O(log n)), insertion sort below
 * 16 elements, heapsort when the depth passes 2 log2 n. always_inline so
 * that a constant comparator becomes a direct, inlinable call. */
static inline __attribute__((always_inline)) void stoa_sift(char* base, size_t root, size_t n,
                                                            size_t size,
                                                            int (*cmp)(const void*, const void*)) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size) < 0) ++child;
    if (cmp(base + root * size, base + child * size) >= 0) return;
    stoa_swap(base + root * size, base + child * size, size);
    root = child;
  }
}

static inline __attribute__((always_inline)) void stoa_qsort(void* items, size_t n, size_t size,
                                                             int (*cmp)(const void*, const void*)) {
  struct {
    size_t lo, n;
    int depth;
  } stack[64];
  int top = 0;
  int depth = 0;
  for (size_t k = n; k > 1; k >>= 1) depth += 2;
  char* base = (char*)items;
  size_t lo = 0;
  for (;;) {
    while (n > 16) {
      char* a = base + lo * size;
      if (depth-- == 0) { /* heapsort this range */
        for (size_t i = n / 2; i-- > 0;) stoa_sift(a, i, n, size, cmp);
        for (size_t end = n - 1; end > 0; --end) {
          stoa_swap(a, a + end * size, size);
          stoa_sift(a, 0, end, size, cmp);
        }
        n = 0;
        break;
      }
      /* Median of three to a[0], then Hoare partition around it. */
      char* mid = a + (n / 2) * size;
      char* last = a + (n - 1) * size;
      if (cmp(mid, a) < 0) stoa_swap(mid, a, size);
      if (cmp(last, a) < 0) stoa_swap(last, a, size);
      if (cmp(last, mid) < 0) stoa_swap(last, mid, size);
      stoa_swap(a, mid, size);
      size_t i = 0, j = n;
      for (;;) {
        do ++i;
        while (i < n && cmp(a + i * size, a) < 0);
        do --j;
        while (j > 0 && cmp(a + j * size, a) > 0);
        if (i >= j) break;
        stoa_swap(a + i * size, a + j * size, size);
      }
      stoa_swap(a, a + j * size, size);
      /* [lo, lo+j) and [lo+j+1, lo+n): push the larger, go on with the smaller. */
      size_t left = j, right = n - j - 1;
      if (left < right) {
        stack[top].lo = lo + j + 1;
        stack[top].n = right;
        stack[top].depth = depth;
        ++top;
        n = left;
      } else {
        stack[top].lo = lo;
        stack[top].n = left;
        stack[top].depth = depth;
        ++top;
        lo = lo + j + 1;
        n = right;
      }
    }
    /* Insertion sort of the short range. */
    char* a = base + lo * size;
    for (size_t i = 1; i < n; ++i) {
      for (size_t k = i; k > 0 && cmp(a + k * size, a + (k - 1) * size) < 0; --k) {
        stoa_swap(a + k * size, a + (k - 1) * size, size);
      }
    }
    if (top == 0) return;
    --top;
    lo = stack[top].lo;
    n = stack[top].n;
    depth = stack[top].depth;
  }
}

#define qsort(items, n, size, cmp) stoa_qsort((items), (n), (size), (cmp))
#endif /* !STOA_LIBC_NO_SORT */

#endif /* __wasm32__ && !STOA_LIBC_NO_HOST */
#endif /* STOA_WASM_GUEST_STOA_LIBC_H_ */
