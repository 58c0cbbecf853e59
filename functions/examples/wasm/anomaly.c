/* Sensor-window anomaly detector.
 *
 * Request (JSON): {"sensor":"t-17","values":[20.1,20.3,...],"threshold":3.5}
 *   values     the window of readings (1 to 100000 numbers), required;
 *   threshold  robust z-score above which a reading is an anomaly (default 3.5).
 * Response (JSON):
 *   {"sensor":"t-17","count":N,"median":m,"mad":d,"threshold":t,
 *    "anomalies":[{"index":i,"value":v,"score":z},...]}
 * The score is the modified z-score 0.6745 * (x - median) / MAD (Iglewicz and
 * Hoaglin), which a single spike cannot mask the way it masks a mean/stddev
 * z-score. With MAD = 0 every reading off the median is an anomaly. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "example.h"

enum { kMaxValues = 100000 };

/* Finds "key": in the text and returns a pointer just past the colon. */
static const char* find_key(const char* in, size_t len, const char* key) {
  size_t klen = strlen(key);
  for (size_t i = 0; i + klen + 2 < len; ++i) {
    if (in[i] != '"' || memcmp(in + i + 1, key, klen) != 0 || in[i + 1 + klen] != '"') continue;
    size_t j = i + klen + 2;
    while (j < len && isspace((unsigned char)in[j])) ++j;
    if (j < len && in[j] == ':') return in + j + 1;
  }
  return NULL;
}

static const char* skip_space(const char* p, const char* end) {
  while (p < end && isspace((unsigned char)*p)) ++p;
  return p;
}

static int compare_doubles(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median_of_sorted(const double* v, size_t n) {
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Parses the "values" array into a malloc'd array; returns an error or NULL. */
static const char* parse_values(const char* in, size_t len, double** values, size_t* count) {
  const char* end = in + len;
  const char* p = find_key(in, len, "values");
  if (p == NULL) return "request has no \"values\" array";
  p = skip_space(p, end);
  if (p == end || *p != '[') return "\"values\" is not an array";
  ++p;
  size_t cap = 64, n = 0;
  double* v = malloc(cap * sizeof(double));
  for (;;) {
    p = skip_space(p, end);
    if (p < end && *p == ']' && n == 0) break;
    char buf[64];
    size_t k = 0;
    while (p + k < end && k + 1 < sizeof buf && strchr("+-.0123456789eE", p[k]) != NULL) {
      buf[k] = p[k];
      ++k;
    }
    buf[k] = '\0';
    char* stop = NULL;
    double x = strtod(buf, &stop);
    if (k == 0 || stop != buf + k || !isfinite(x)) {
      free(v);
      return "\"values\" must hold only finite numbers";
    }
    if (n == kMaxValues) {
      free(v);
      return "\"values\" holds more than 100000 numbers";
    }
    if (n == cap) v = realloc(v, (cap *= 2) * sizeof(double));
    if (v == NULL) return "out of memory";
    v[n++] = x;
    p = skip_space(p + k, end);
    if (p < end && *p == ',') {
      ++p;
      continue;
    }
    if (p < end && *p == ']') break;
    free(v);
    return "\"values\" array is not closed";
  }
  if (n == 0) {
    free(v);
    return "\"values\" is empty";
  }
  *values = v;
  *count = n;
  return NULL;
}

/* Copies the "sensor" string (letters, digits, -_.:, at most 63) or "". */
static void parse_sensor(const char* in, size_t len, char* sensor, size_t cap) {
  sensor[0] = '\0';
  const char* end = in + len;
  const char* p = find_key(in, len, "sensor");
  if (p == NULL || (p = skip_space(p, end)) == end || *p != '"') return;
  size_t k = 0;
  for (++p; p < end && *p != '"' && k + 1 < cap; ++p) {
    if (isalnum((unsigned char)*p) || strchr("-_.:", *p) != NULL) sensor[k++] = *p;
  }
  sensor[k] = '\0';
}

const char* anomaly_handle(const char* in, size_t in_len, char** out, size_t* out_len) {
  *out = NULL;
  double* values = NULL;
  size_t n = 0;
  const char* err = parse_values(in, in_len, &values, &n);
  if (err != NULL) return err;
  double threshold = 3.5;
  const char* t = find_key(in, in_len, "threshold");
  if (t != NULL) {
    char* stop = NULL;
    threshold = strtod(t, &stop);
    if (stop == t || !(threshold > 0)) {
      free(values);
      return "\"threshold\" must be a positive number";
    }
  }
  char sensor[64];
  parse_sensor(in, in_len, sensor, sizeof sensor);

  double* sorted = malloc(n * sizeof(double));
  if (sorted == NULL) {
    free(values);
    return "out of memory";
  }
  memcpy(sorted, values, n * sizeof(double));
  qsort(sorted, n, sizeof(double), compare_doubles);
  const double median = median_of_sorted(sorted, n);
  for (size_t i = 0; i < n; ++i) sorted[i] = fabs(values[i] - median);
  qsort(sorted, n, sizeof(double), compare_doubles);
  const double mad = median_of_sorted(sorted, n);
  free(sorted);

  Buffer b = {0};
  buffer_printf(&b,
                "{\"sensor\":\"%s\",\"count\":%zu,\"median\":%.6g,\"mad\":%.6g,\"threshold\":%.6g,"
                "\"anomalies\":[",
                sensor, n, median, mad, threshold);
  int first = 1;
  for (size_t i = 0; i < n; ++i) {
    const double dev = values[i] - median;
    const double score =
        mad > 0 ? 0.6745 * dev / mad : (dev == 0 ? 0 : (dev > 0 ? INFINITY : -INFINITY));
    if (fabs(score) <= threshold) continue;
    if (isinf(score)) {
      buffer_printf(&b, "%s{\"index\":%zu,\"value\":%.6g,\"score\":null}", first ? "" : ",", i,
                    values[i]);
    } else {
      buffer_printf(&b, "%s{\"index\":%zu,\"value\":%.6g,\"score\":%.4f}", first ? "" : ",", i,
                    values[i], score);
    }
    first = 0;
  }
  buffer_printf(&b, "]}\n");
  free(values);
  if (b.failed) {
    free(b.data);
    return "out of memory";
  }
  *out = b.data;
  *out_len = b.len;
  return NULL;
}
