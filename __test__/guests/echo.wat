;; The trivial probe: copies its input JSON to its output. Used by the Rust tests and the bench.
(module
  (import "probe" "input_len" (func $input_len (result i32)))
  (import "probe" "input_read" (func $input_read (param i32)))
  (import "probe" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "execute") (result i32)
    (call $input_read (i32.const 0))
    (call $output_write (i32.const 0) (call $input_len))
    (i32.const 0)))
