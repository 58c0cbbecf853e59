;; Invalid: imports a memory instead of exporting one. Expected:
;; INVALID_ARGUMENT "import 'wasi_snapshot_preview1.memory' is not a function …".
(module
  (import "wasi_snapshot_preview1" "memory" (memory 1))
  (func (export "_start")))
