/* Sandbox check, not hostile: counts its calls in a global. Each invocation
 * runs in a fresh instance, so it always prints "calls=1". */
#include <stdio.h>

static int calls;

int main(void) {
  printf("calls=%d\n", ++calls);
  return 0;
}
