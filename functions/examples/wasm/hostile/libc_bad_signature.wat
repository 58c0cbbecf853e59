;; Hostile: imports stoa_libc.strtod with the wrong signature. Expected:
;; registration refused, "import 'stoa_libc.strtod' has signature …" (400).
(module
  (import "stoa_libc" "strtod" (func $strtod (param i32) (result f64)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $strtod (i32.const 0)))))
