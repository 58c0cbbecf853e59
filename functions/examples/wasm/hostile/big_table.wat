;; Hostile: a 45-byte module whose funcref table declares 10,000,000
;; entries (80 MB in the interpreter, 240 MB in AOT code, per instance).
;; Expected: refused at registration, INVALID_ARGUMENT "table 0 declares
;; 10000000 entries at start; the limit is 100000 entries per table".
(module
  (table 10000000 funcref)
  (func (export "_start")))
