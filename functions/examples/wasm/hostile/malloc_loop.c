/* Hostile: calls malloc in a loop (block size from stdin, default 64 KiB; 16 B is the slow case)
 * until it returns NULL, then exits 1 saying how much it got. Expected: malloc returns NULL as
 * soon as linear memory reaches limits.memory_mb, so the call ends at once with INTERNAL
 * "function exited with status 1 (linear memory is near its limit …); stderr: malloc returned
 * NULL after …" (HTTP 500), on both engines. */
#include <stdio.h>
#include <stdlib.h>

/* Volatile so the compiler cannot drop the allocations (an allocation loop with no visible
 * effect may be assumed to end, and then be replaced by a trap). */
char* volatile last_block;

int main(void) {
  char line[32] = {0};
  size_t block = 1 << 16;
  if (fgets(line, sizeof line, stdin) != NULL && atoi(line) > 0) block = (size_t)atoi(line);
  size_t total = 0;
  for (;;) {
    char* p = malloc(block);
    if (p == NULL) break;
    last_block = p;
    *(volatile char*)p = 1;
    total += block;
  }
  fprintf(stderr, "malloc returned NULL after %zu KiB in blocks of %zu bytes\n", total >> 10,
          block);
  return 1;
}
