//! The filesystem capability for core modules. Without an `fs` grant a guest has no preopened
//! directory, so libc's `fopen` fails with an errno it can handle. A direct WASI p1 `path_*`
//! call (on a descriptor it was never given) is not answered with an errno: it fails the
//! execution with `ERR_WASM_CAPABILITY_DENIED`, `Capability not granted: filesystem`.
//!
//! Modules run with a linker where these functions are replaced by refusals when nothing is
//! granted, and with the real WASI implementation when preopens are.

use crate::error::{ErrorCode, ProbeError};
use crate::host::context::HasExec;
use wasmtime::{FuncType, Linker, ValType};

const MODULE: &str = "wasi_snapshot_preview1";

/// Every p1 call that names a path, with its parameter types (all return an errno).
fn path_calls() -> [(&'static str, Vec<ValType>); 10] {
  use ValType::{I32, I64};
  [
    ("path_create_directory", vec![I32, I32, I32]),
    ("path_filestat_get", vec![I32, I32, I32, I32, I32]),
    ("path_filestat_set_times", vec![I32, I32, I32, I32, I64, I64, I32]),
    ("path_link", vec![I32, I32, I32, I32, I32, I32, I32]),
    ("path_open", vec![I32, I32, I32, I32, I32, I64, I64, I32, I32]),
    ("path_readlink", vec![I32, I32, I32, I32, I32, I32]),
    ("path_remove_directory", vec![I32, I32, I32]),
    ("path_rename", vec![I32, I32, I32, I32, I32, I32]),
    ("path_symlink", vec![I32, I32, I32, I32, I32]),
    ("path_unlink_file", vec![I32, I32, I32]),
  ]
}

/// Replaces the p1 `path_*` functions of `linker` with refusals.
pub fn deny_paths<T: HasExec>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
  linker.allow_shadowing(true);
  for (name, params) in path_calls() {
    let ty = FuncType::new(linker.engine(), params, [ValType::I32]);
    linker.func_new(MODULE, name, ty, move |mut caller, _params, _results| {
      let err = ProbeError::new(
        ErrorCode::CapabilityDenied,
        format!("Capability not granted: filesystem (the guest called {MODULE}.{name})"),
      );
      caller.data_mut().exec().host_fault = Some(err.clone());
      Err(wasmtime::Error::msg(err.message))
    })?;
  }
  linker.allow_shadowing(false);
  Ok(())
}
