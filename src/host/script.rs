//! The script capability: the built-in JavaScript engine (`engine/quickjs-host.c`) reads the
//! source of the script it runs, and its file name, from the host — one compiled engine serves
//! every script loaded with `loadScript`. Import module `probe`:
//! `script_len() -> i32` (-1 when the execution runs no script), `script_read(ptr)`,
//! `script_name_len() -> i32`, `script_name_read(ptr)`.

use crate::host::context::{HasExec, ScriptText};
use crate::host::probe_abi::{MODULE, write_guest};
use wasmtime::{Caller, Linker};

fn text_len<T: HasExec>(caller: &mut Caller<'_, T>, part: fn(&ScriptText) -> &str) -> i32 {
  let exec = caller.data_mut().exec();
  exec.host_calls += 1;
  exec.script.as_deref().map_or(-1, |script| part(script).len() as i32)
}

fn text_read<T: HasExec>(
  caller: &mut Caller<'_, T>,
  call: &str,
  ptr: i32,
  part: fn(&ScriptText) -> &str,
) -> wasmtime::Result<()> {
  let exec = caller.data_mut().exec();
  exec.host_calls += 1;
  let Some(script) = exec.script.clone() else {
    return Ok(());
  };
  write_guest(caller, call, ptr, part(&script).as_bytes())
}

fn source(script: &ScriptText) -> &str {
  &script.source
}

fn filename(script: &ScriptText) -> &str {
  &script.filename
}

pub fn add_to_linker<T: HasExec>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
  linker.func_wrap(MODULE, "script_len", |mut caller: Caller<'_, T>| {
    text_len(&mut caller, source)
  })?;
  linker.func_wrap(MODULE, "script_read", |mut caller: Caller<'_, T>, ptr: i32| {
    text_read(&mut caller, "script_read", ptr, source)
  })?;
  linker.func_wrap(MODULE, "script_name_len", |mut caller: Caller<'_, T>| {
    text_len(&mut caller, filename)
  })?;
  linker.func_wrap(MODULE, "script_name_read", |mut caller: Caller<'_, T>, ptr: i32| {
    text_read(&mut caller, "script_name_read", ptr, filename)
  })?;
  Ok(())
}
