;; Grows its memory one page at a time until the runtime refuses (memory.grow returns -1),
;; then traps, as a guest would that does not check its allocations.
(module
  (memory (export "memory") 1)
  (func (export "execute") (result i32)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
