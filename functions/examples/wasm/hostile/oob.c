/* Hostile: stores outside linear memory. Expected: INTERNAL "wasm trap: out of
 * bounds memory access …" (HTTP 500). */
#include <stdint.h>

int main(void) {
  volatile uint32_t* far = (volatile uint32_t*)(uintptr_t)0xFFFFFFF0u;
  *far = 42;
  return 0;
}
