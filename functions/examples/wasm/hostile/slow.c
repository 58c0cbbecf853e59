/* Test module, not hostile: busy-waits for the number of milliseconds given
 * as the request body, then answers "slept N ms". The shutdown tests use it
 * for a call in flight when SIGTERM arrives. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long NowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(void) {
  char buf[32] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, stdin);
  buf[n] = '\0';
  long ms = atol(buf);
  long long end = NowMs() + ms;
  while (NowMs() < end) {
  }
  printf("slept %ld ms\n", ms);
  return 0;
}
