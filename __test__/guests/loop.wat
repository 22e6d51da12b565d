;; A guest that never ends: only the runtime's timeout (or fuel, or cancellation) stops it.
(module
  (func (export "execute") (result i32)
    (loop $forever
      (br $forever))
    (i32.const 0)))
