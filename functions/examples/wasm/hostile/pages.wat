;; Isolation probe for pooled memories that commit pages on first touch.
;; Request: one byte n (0..80). Grows memory from 1 to 5 pages (80 host
;; pages of 4 KiB), checks that byte 100 of each of the first n host pages
;; and the 64 bytes at the end of memory are zero (what an earlier
;; invocation wrote there must be gone), then writes 0xAB at byte 100 of
;; those n pages and random bytes at the end of memory (random_get: host code
;; writing into a page the instance had not touched). Answers "ok", "dirty"
;; (something survived) or "rand" (random_get failed). Touching more than 64
;; host pages turns a lazily committed memory eager during the call.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get"
    (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 48) "okdirtyrand")
  (func $answer (param $at i32) (param $len i32)
    ;; iovec at 8 = {at, len}
    (i32.store (i32.const 8) (local.get $at))
    (i32.store (i32.const 12) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16))))
  (func (export "_start")
    (local $n i32) (local $k i32) (local $tail i32)
    ;; iovec at 0 = {32, 1}: the request byte lands at 32.
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (local.set $n (i32.load8_u (i32.const 32)))
    (if (i32.gt_u (local.get $n) (i32.const 80)) (then (local.set $n (i32.const 80))))
    (drop (memory.grow (i32.const 4)))
    (local.set $tail (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 64)))
    ;; What the last invocation left must read zero.
    (local.set $k (i32.const 0))
    (block $checked
      (loop $check
        (br_if $checked (i32.ge_u (local.get $k) (local.get $n)))
        (if (i32.ne (i32.load8_u (i32.add (i32.mul (local.get $k) (i32.const 4096)) (i32.const 100)))
                    (i32.const 0))
          (then (call $answer (i32.const 50) (i32.const 5)) (return)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $check)))
    (local.set $k (i32.const 0))
    (block $clean
      (loop $tailcheck
        (br_if $clean (i32.ge_u (local.get $k) (i32.const 64)))
        (if (i64.ne (i64.load (i32.add (local.get $tail) (local.get $k))) (i64.const 0))
          (then (call $answer (i32.const 50) (i32.const 5)) (return)))
        (local.set $k (i32.add (local.get $k) (i32.const 8)))
        (br $tailcheck)))
    ;; Leave marks behind.
    (local.set $k (i32.const 0))
    (block $written
      (loop $write
        (br_if $written (i32.ge_u (local.get $k) (local.get $n)))
        (i32.store8 (i32.add (i32.mul (local.get $k) (i32.const 4096)) (i32.const 100))
                    (i32.const 0xAB))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $write)))
    (if (i32.ne (call $random_get (local.get $tail) (i32.const 64)) (i32.const 0))
      (then (call $answer (i32.const 55) (i32.const 4)) (return)))
    (call $answer (i32.const 48) (i32.const 2))))
