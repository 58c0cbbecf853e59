/* Hostile: unbounded recursion. Expected: INTERNAL "wasm trap: call stack
 * exhausted" (HTTP 500). */
volatile int sink;
volatile int limit = -1; /* never reached: keeps the compiler from proving the recursion endless */

__attribute__((noinline)) static int depth(int n) {
  sink = n;
  if (n == limit) return n;
  int r = depth(n + 1);
  sink = r;
  return r;
}

int main(void) { return depth(0); }
