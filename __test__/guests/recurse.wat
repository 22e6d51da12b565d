;; Recursion: "execute" never stops recursing; "depth" recurses as deep as its input is long
;; times 64, keeping several values live across each call so every frame takes real stack.
(module
  (import "probe" "input_len" (func $input_len (result i32)))
  (import "probe" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"done\":true}")
  (func $forever (param $n i64) (result i64)
    (i64.add (call $forever (i64.add (local.get $n) (i64.const 1))) (local.get $n)))
  (func (export "execute") (result i32)
    (drop (call $forever (i64.const 0)))
    (i32.const 0))
  (func $down (param $n i32) (param $a i64) (param $b i64) (param $c i64) (result i64)
    (if (result i64) (i32.eqz (local.get $n))
      (then (i64.add (local.get $a) (local.get $b)))
      (else
        (i64.add
          (i64.add (local.get $a) (i64.mul (local.get $b) (local.get $c)))
          (call $down (i32.sub (local.get $n) (i32.const 1))
            (i64.add (local.get $a) (i64.const 1))
            (i64.add (local.get $b) (local.get $c))
            (i64.sub (local.get $c) (local.get $a)))))))
  (func (export "depth") (result i32)
    (drop (call $down (i32.mul (call $input_len) (i32.const 64)) (i64.const 1) (i64.const 2) (i64.const 3)))
    (call $output_write (i32.const 0) (i32.const 13))
    (i32.const 0)))
