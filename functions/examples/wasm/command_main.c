/* WASI command shell around one handler (STOA_HANDLER): request body on
 * stdin, response on stdout; an error goes to stderr with exit status 2. */
#include <stdio.h>
#include <stdlib.h>

#include "example.h"

int main(void) {
  size_t cap = 4096, len = 0;
  char* in = malloc(cap);
  size_t n;
  while (in != NULL && (n = fread(in + len, 1, cap - len, stdin)) > 0) {
    len += n;
    if (len == cap) in = realloc(in, cap *= 2);
  }
  if (in == NULL) {
    fputs("out of memory reading the request\n", stderr);
    return 2;
  }
  char* out = NULL;
  size_t out_len = 0;
  const char* err = STOA_HANDLER(in, len, &out, &out_len);
  if (err != NULL) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  fwrite(out, 1, out_len, stdout);
  free(out);
  free(in);
  return 0;
}
