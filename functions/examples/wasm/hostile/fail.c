/* Misbehaving, not hostile: reports an error on stderr and exits 3. Expected:
 * INTERNAL "function exited with status 3; stderr: …" (HTTP 500). */
#include <stdio.h>

int main(void) {
  fputs("sensor offline: no data\n", stderr);
  return 3;
}
