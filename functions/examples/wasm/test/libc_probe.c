/* Test module for the host C library (functions/wasm/guest/stoa_libc.h).
 * Built twice: libc_probe_host.wasm includes the header (strtod and the
 * snprintf family run in the host), libc_probe_guest.wasm does not (they
 * run wasi-libc's musl code). On an empty request both print the same
 * battery of results, which the tests compare line by line; other requests
 * hand the host a pointer outside linear memory ("oob-fmt", "oob-buf",
 * "oob-s", "oob-strtod", "oob-end"), which must trap as the guest's own
 * access would. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <wchar.h>

#ifdef STOA_PROBE_HOST
#include "stoa_libc.h"
#endif

/* Far past any memory this module may grow to (16 MiB cap in the tests). */
#define BAD_POINTER ((char*)(uintptr_t)0xfffffff0u)

static char line[4096];

/* Prints what snprintf returned and wrote, bytes escaped, without printf. */
static void show(const char* what, int r, const char* buf, size_t len) {
  fputs(what, stdout);
  fputs(" => ", stdout);
  char num[24];
  int k = 0;
  unsigned v = r < 0 ? (unsigned)-r : (unsigned)r;
  do num[k++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  if (r < 0) num[k++] = '-';
  while (k > 0) fputc(num[--k], stdout);
  fputs(" [", stdout);
  for (size_t i = 0; i < len; ++i) {
    unsigned char c = (unsigned char)buf[i];
    if (c >= 32 && c < 127) {
      fputc(c, stdout);
    } else {
      fputc('\\', stdout);
      fputc("0123456789abcdef"[c >> 4], stdout);
      fputc("0123456789abcdef"[c & 15], stdout);
    }
  }
  fputs("]\n", stdout);
}

#define FMT(...)                                                  \
  do {                                                            \
    memset(line, 'Z', sizeof line);                               \
    int r_ = snprintf(line, sizeof line, __VA_ARGS__);            \
    show(#__VA_ARGS__, r_, line, r_ >= 0 ? strlen(line) : 0);     \
  } while (0)

static void hex64(uint64_t v) {
  for (int i = 15; i >= 0; --i) fputc("0123456789abcdef"[(v >> (4 * i)) & 15], stdout);
}

static void parse(const char* text) {
  char* end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  int err = errno;
  uint64_t bits;
  memcpy(&bits, &v, 8);
  fputs("strtod \"", stdout);
  fputs(text, stdout);
  fputs("\" => ", stdout);
  hex64(bits);
  fputs(" used ", stdout);
  fputc('0' + (int)((end - text) / 10 % 10), stdout);
  fputc('0' + (int)((end - text) % 10), stdout);
  /* errno after a subnormal result is the library's choice (C leaves it
   * open; glibc sets ERANGE when inexact, musl depending on the digits). */
  if (v != 0 && fabs(v) < DBL_MIN) fputs(" subnormal\n", stdout);
  else fputs(err == ERANGE ? " ERANGE\n" : err == 0 ? " ok\n" : " other-errno\n", stdout);
}

static void battery(void) {
  FMT("%d|%i|%5d|%-5d|%05d|%+d|% d|%d", 42, -42, 42, 42, -42, 42, 42, INT_MIN);
  FMT("%u %x %X %o %#x %#o %#X %x", 0u, UINT_MAX, 255u, 8u, 255u, 8u, 0u, 0u);
  FMT("%hhd %hd %hhu %hu %hhx", 300, 70000, -1, -1, 511);
  FMT("%ld %lu %zu %zd %td %jd", LONG_MIN, ULONG_MAX, (size_t)123, (ssize_t)-5, (ptrdiff_t)-7,
      (intmax_t)INT64_MIN);
  FMT("%lld %llu %llx %lld|%d", LLONG_MIN, ULLONG_MAX, 0x123456789abcdefULL, 7LL, 9);
  FMT("%d %f %d %lld %g", 1, 0.5, 2, 3LL, 1e10);
  FMT("%.5d %.0d|%8.3d %-8.3x|%+.2d", 42, 0, 7, 255u, 3);
  const double d[] = {0.0, -0.0, 1.5, 2.5, 0.1, 1e300, 1e-300, 5e-324, DBL_MAX, 123456789.0,
                      0.000123, 20.0, 35.0, 101.175, -7.25e-5, 0.5, 1.0 / 3};
  for (size_t i = 0; i < sizeof d / sizeof d[0]; ++i) {
    FMT("%f %.0f %.3f %10.2f %-10.2f| %+f", d[i], d[i], d[i], d[i], d[i], d[i]);
    FMT("%e %E %.0e %#.0e %12.4e", d[i], d[i], d[i], d[i], d[i]);
    FMT("%g %G %.6g %.15g %.17g %#g %.0g %#.3g", d[i], d[i], d[i], d[i], d[i], d[i], d[i], d[i]);
    FMT("%F %.4f %08.2f %lf", d[i], d[i], d[i], d[i]);
  }
  FMT("%f %F %e %g %5.1f %-6g| %+g %05f", INFINITY, -INFINITY, NAN, -NAN, INFINITY, NAN, INFINITY,
      -INFINITY);
  FMT("%c%c%c|%3c|%-3c|", 'A', 0, 'z', 'q', 'r');
  FMT("%s|%.3s|%10s|%-10s|%.0s|%s|%.10s", "hello", "hello", "hi", "hi", "gone", "", "abc");
  FMT("%*d|%-*d|%*d|%.*f|%.*f|%*.*f", 5, 1, 5, 2, -5, 3, 2, 3.14159, -1, 3.14159, 8, 3, 2.71828);
  FMT("%%|100%%|%5%|%d%%", 7);
  FMT("%'d %'.2f", 1234567, 1234567.891);
  /* Left to the guest's libc: the same output either way. */
  FMT("%p %p", (void*)0, (void*)(uintptr_t)0x1234);
  FMT("%a %A %.3a", 1.0, -0.1, 3.0);
  FMT("%2$d %1$d", 1, 2);
  FMT("%Lf %Lg", 1.5L, 2.25L);
  FMT("%ls|%lc", L"wide", (wint_t)'w');
  FMT("%5000000d|", 1);
  FMT("%.2000000f|", 1.0);
  FMT("%-------------d|", 5);
  FMT("%*d|", INT_MIN, 5);
  FMT("%q|");
  FMT("trailing %");
  {
    int n = -1;
    memset(line, 'Z', sizeof line);
    int r = snprintf(line, sizeof line, "abc%ndef", &n);
    show("%n", r, line, strlen(line));
    show("%n count", n, "", 0);
  }
  /* Truncation and sizes. */
  {
    char small[8];
    memset(small, 'Z', sizeof small);
    int r = snprintf(small, 5, "%s", "hello world");
    show("size 5", r, small, sizeof small);
    memset(small, 'Z', sizeof small);
    r = snprintf(small, 1, "%d", 12345);
    show("size 1", r, small, sizeof small);
    memset(small, 'Z', sizeof small);
    r = snprintf(small, 0, "%d", 12345);
    show("size 0", r, small, sizeof small);
    r = snprintf(NULL, 0, "%s=%d", "key", 123456);
    show("NULL 0", r, "", 0);
    memset(small, 'Z', sizeof small);
    r = sprintf(small, "%d-%d", 12, 34);
    show("sprintf", r, small, sizeof small);
    char big[3000];
    r = snprintf(big, sizeof big, "%2500d|", 9);
    show("wide 2500", r, big + 2490, strlen(big + 2490));
  }
  const char* numbers[] = {"3.14", "  -2.5e-3xyz", "0x1.8p1", "inf", "-Infinity", "nan",
                           "nan(123)", "1e400", "-1e400", "1e-400", "4.9e-324", "2.2250738585072011e-308",
                           "abc", "", "   ", "1.7976931348623157e308", "0.1", "123456789012345678901234567890",
                           ".5", "5.", "+.e1", "1e", "1e+", "0x", "  12,5", "20.1,", "-0", "0X1P-1074",
                           "1_000", "\t\n 7", "infinit", "nanx", "1.00000000000000011102230246251565404236316680908203125"};
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; ++i) parse(numbers[i]);
  {
    /* A number longer than the host parses (64 KiB): the guest's strtod. */
    static char longnum[70000];
    memset(longnum, '1', sizeof longnum - 2);
    longnum[1] = '.';
    longnum[sizeof longnum - 2] = 'x';
    longnum[sizeof longnum - 1] = '\0';
    char* end = NULL;
    double v = strtod(longnum, &end);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    fputs("long number => ", stdout);
    hex64(bits);
    fputs(end == longnum + sizeof longnum - 2 ? " end ok\n" : " end wrong\n", stdout);
  }
  printf("atof %g\n", atof("  6.25e2"));
  {
    const char* abc = "abc";
    const char* set = "+-.0123456789eE";
    char found[64];
    int k = 0;
    for (int c = 0; c < 128; ++c) found[k += strchr(set, c) != NULL] = (char)c;
    found[k] = '\0';
    printf("strchr %d %d %d %d %d [%s]\n", (int)(strchr(abc, 'c') - abc), (int)(strchr(abc, 0) - abc),
           strchr(abc, 'z') == NULL, (int)(strchr(abc, 256 + 'a') - abc),
           strchr("", 'a') == NULL, found + 1);
  }
}

/* qsort: the guest build runs musl's, the host build the header's. */
static int by_int(const void* a, const void* b) {
  int x = *(const int*)a, y = *(const int*)b;
  return (x > y) - (x < y);
}
static int by_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}
typedef struct {
  unsigned key;
  unsigned char pad[7];
} Odd; /* 12 bytes: neither 4 nor 8 */
static int by_key(const void* a, const void* b) {
  unsigned x = ((const Odd*)a)->key, y = ((const Odd*)b)->key;
  return (x > y) - (x < y);
}

static void sorts(void) {
  static int ints[5000];
  static double doubles[5000];
  static Odd odd[3000];
  const size_t sizes[] = {0, 1, 2, 3, 16, 17, 100, 1000, 5000};
  unsigned seed = 12345;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
    const size_t n = sizes[s];
    for (int shape = 0; shape < 5; ++shape) {
      for (size_t i = 0; i < n; ++i) {
        seed = seed * 1103515245u + 12345u;
        int v = (int)(seed >> 8);
        if (shape == 1) v = (int)i;            /* sorted */
        if (shape == 2) v = (int)(n - i);      /* reversed */
        if (shape == 3) v = (int)(seed >> 28); /* many equal keys */
        if (shape == 4) v = (int)(i % 2 ? i : n - i); /* organ pipe */
        ints[i] = v;
        doubles[i] = v * 0.5 - 3.25;
        if (i < 3000) odd[i].key = (unsigned)v;
      }
      qsort(ints, n, sizeof ints[0], by_int);
      qsort(doubles, n, sizeof doubles[0], by_double);
      const size_t m = n < 3000 ? n : 3000;
      qsort(odd, m, sizeof odd[0], by_key);
      unsigned long long h = 1469598103934665603ULL;
      int ordered = 1;
      for (size_t i = 0; i < n; ++i) {
        h = (h ^ (unsigned)ints[i]) * 1099511628211ULL;
        h = (h ^ (unsigned long long)(long long)(doubles[i] * 4)) * 1099511628211ULL;
        if (i < m) h = (h ^ odd[i].key) * 1099511628211ULL;
        if (i > 0 && (ints[i - 1] > ints[i] || doubles[i - 1] > doubles[i])) ordered = 0;
        if (i > 0 && i < m && odd[i - 1].key > odd[i].key) ordered = 0;
      }
      fputs(ordered ? "sort ordered " : "sort NOT ORDERED ", stdout);
      hex64(h);
      fputc('\n', stdout);
    }
  }
}

int main(void) {
  char request[32] = {0};
  size_t n = fread(request, 1, sizeof request - 1, stdin);
  request[n] = '\0';
  char buf[16];
  if (strcmp(request, "oob-fmt") == 0) return snprintf(buf, sizeof buf, BAD_POINTER, 1);
  if (strcmp(request, "oob-buf") == 0) return snprintf(BAD_POINTER, 16, "%d", 1);
  if (strcmp(request, "oob-s") == 0) return snprintf(buf, sizeof buf, "%s", BAD_POINTER);
  if (strcmp(request, "oob-strtod") == 0) return (int)strtod(BAD_POINTER, NULL);
  if (strcmp(request, "oob-end") == 0) return (int)strtod("1.5", (char**)BAD_POINTER);
  battery();
  sorts();
  return 0;
}
