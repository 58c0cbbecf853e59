/* The request handler of a Wasm example. The same C file is built three
 * ways: to wasm32-wasi (the Stoa function, with command_main.c), natively
 * into the benchmark (called in-process), and natively as a command (the
 * process-per-request baseline).
 *
 * A handler reads `in` (in_len bytes), writes a malloc'd response to *out
 * (*out_len bytes) and returns NULL, or returns a static error message and
 * leaves *out NULL. */
#ifndef STOA_FUNCTIONS_EXAMPLES_WASM_EXAMPLE_H_
#define STOA_FUNCTIONS_EXAMPLES_WASM_EXAMPLE_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

const char* anomaly_handle(const char* in, size_t in_len, char** out, size_t* out_len);
const char* digits_pre_handle(const char* in, size_t in_len, char** out, size_t* out_len);
const char* digits_pixels_handle(const char* in, size_t in_len, char** out, size_t* out_len);
const char* digits_post_handle(const char* in, size_t in_len, char** out, size_t* out_len);

#ifdef __cplusplus
}
#endif

#endif
