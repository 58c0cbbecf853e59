/* Sandbox check: exercises the WASI host and tries to reach outside it.
 * Prints one line per probe; the runtime tests assert on them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
  printf("argc=%d argv0=%s\n", argc, argc > 0 ? argv[0] : "");
  int env_count = 0;
  for (char** e = environ; e != NULL && *e != NULL; ++e) ++env_count;
  printf("environ=%d\n", env_count);
  struct timespec ts;
  printf("clock=%s\n",
         clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > 1600000000 ? "ok" : "bad");
  unsigned char a[16] = {0}, b[16] = {0};
  const int random_ok =
      getentropy(a, sizeof a) == 0 && getentropy(b, sizeof b) == 0 && memcmp(a, b, sizeof a) != 0;
  printf("random=%s\n", random_ok ? "ok" : "bad");
  FILE* f = fopen("/etc/passwd", "r");
  printf("fopen=%s\n", f == NULL ? "denied" : "OPENED");
  char buf[64];
  size_t n = fread(buf, 1, sizeof buf - 1, stdin);
  buf[n] = '\0';
  printf("stdin=%s\n", buf);
  fputs("probe done\n", stderr);
  return 0;
}
