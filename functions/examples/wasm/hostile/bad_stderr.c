/* Misbehaving: writes bytes that are not UTF-8 to stderr and exits 2.
 * Expected: INTERNAL "function exited with status 2; stderr: …" (HTTP 500)
 * with the bad bytes replaced by U+FFFD in the JSON error body. */
#include <stdio.h>

int main(void) {
  fputs("sensor \xff\xfe offline \xc3\x28\n", stderr);
  return 2;
}
