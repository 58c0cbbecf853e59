/* Hostile: imports a function from outside WASI. Expected: registration
 * refused, INVALID_ARGUMENT "import 'env.open_socket' is not allowed …" (HTTP 400). */
__attribute__((import_module("env"), import_name("open_socket"))) int open_socket(int port);

int main(void) { return open_socket(80); }
