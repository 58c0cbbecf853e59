/* Hostile: allocates 1 MiB blocks (touching one byte per 64 KiB page) until malloc fails, then
 * aborts. Expected: linear memory stops growing at limits.memory_mb, then INTERNAL "wasm trap:
 * unreachable executed (linear memory is at its limit …)" (HTTP 500). */
#include <stdio.h>
#include <stdlib.h>

/* Volatile so the compiler cannot drop the allocations. */
char* volatile last_block;

int main(void) {
  size_t mib = 0;
  for (;;) {
    char* block = malloc(1 << 20);
    if (block == NULL) break;
    last_block = block;
    for (size_t i = 0; i < (1 << 20); i += 1 << 16) ((volatile char*)block)[i] = (char)0xAB;
    ++mib;
  }
  fprintf(stderr, "memory bomb: malloc failed after %zu MiB\n", mib);
  abort();
}
