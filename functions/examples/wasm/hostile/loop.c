/* Hostile: never returns. Expected: DEADLINE_EXCEEDED at limits.timeout_ms (HTTP 504). */
int main(void) {
  volatile unsigned spins = 0;
  for (;;) spins = spins + 1;
}
