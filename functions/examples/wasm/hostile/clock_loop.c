/* Hostile: never returns, and spends much of its time inside a host call
 * (clock_gettime is WASI clock_time_get). Expected: DEADLINE_EXCEEDED at
 * limits.timeout_ms (HTTP 504), on both engines. */
#include <time.h>

int main(void) {
  volatile long sum = 0;
  for (;;) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sum = sum + ts.tv_nsec;
  }
}
