;; Hostile: imports a function stoa_libc does not offer. Expected: registration
;; refused, "import 'stoa_libc.system' is not allowed: stoa_libc offers …" (400).
(module
  (import "stoa_libc" "system" (func $system (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $system (i32.const 0)))))
