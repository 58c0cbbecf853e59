/* Hostile module: writes the number of MiB given as the request body
 * (100 when empty) to stdout, 64 KiB at a time, ignoring write errors, and
 * exits 0. The output size limit must turn it into an error on both tiers,
 * never a silently truncated 200. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char chunk[64 * 1024];

int main(void) {
  char buf[32] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, stdin);
  buf[n] = '\0';
  long mib = n > 0 ? atol(buf) : 100;
  memset(chunk, 'x', sizeof chunk);
  for (long i = 0; i < mib * 16; ++i) {
    (void)write(1, chunk, sizeof chunk);
  }
  return 0;
}
