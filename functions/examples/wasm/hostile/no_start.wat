;; Invalid as a function: a library module without _start. Expected:
;; INVALID_ARGUMENT "module exports no _start function …" (HTTP 400).
(module
  (memory (export "memory") 1)
  (func (export "run") (result i32) i32.const 7))
