;; Isolation probe: whatever one invocation leaves behind must be gone in
;; the next. Request "w" + 8 bytes: plants those bytes in linear memory (at
;; 100, 60000 and, after growing memory by a page, 70000) and in the mutable
;; global $g; answers nothing. Request "r": answers 28 bytes, memory[100..108),
;; memory[60000..60008), $g (8 bytes, little-endian) and memory.size (4
;; bytes): all zero but a size of 1 page when every invocation is fresh.
;; Request "p": reads address 70000 (the page a "w" grew): a trap when the
;; memory was reset to its initial page.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i64) (i64.const 0))
  (func (export "_start")
    (local $secret i64)
    ;; iovec at 0 = {1024, 64}; bytes read at 16.
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 64))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 119))  ;; 'w'
      (then
        (local.set $secret (i64.load (i32.const 1025)))
        (i64.store (i32.const 1025) (i64.const 0))  ;; only the planted copies stay
        (i64.store (i32.const 100) (local.get $secret))
        (i64.store (i32.const 60000) (local.get $secret))
        (drop (memory.grow (i32.const 1)))
        (i64.store (i32.const 70000) (local.get $secret))
        (global.set $g (local.get $secret))))
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 112))  ;; 'p'
      (then (drop (i64.load (i32.const 70000))) (return)))
    (i64.store (i32.const 2048) (i64.load (i32.const 100)))
    (i64.store (i32.const 2056) (i64.load (i32.const 60000)))
    (i64.store (i32.const 2064) (global.get $g))
    (i32.store (i32.const 2072) (memory.size))
    ;; iovec at 8 = {2048, 28}
    (i32.store (i32.const 8) (i32.const 2048))
    (i32.store (i32.const 12) (i32.const 28))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))
