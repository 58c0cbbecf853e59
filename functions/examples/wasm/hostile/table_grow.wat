;; Hostile: grows its table by 200,000 entries, past the cap on table
;; entries. Expected: table.grow returns -1 (as memory.grow does past
;; limits.memory_mb) and _start returns normally; a grow that succeeded
;; would reach `unreachable` (a trap).
(module
  (table 1 funcref)
  (func (export "_start")
    (if (i32.ne (table.grow 0 (ref.null func) (i32.const 200000)) (i32.const -1))
      (then unreachable))))
