//! The script capability: the built-in JavaScript engine (`engine/quickjs-host.c`) reads the
//! source of the script it runs, its file name and the function to call from the host — one
//! compiled engine serves every script loaded with `loadScript`. Import module `probe`, each a
//! `_len() -> i32` (-1 when the execution runs no script) and a `_read(ptr)`: `script_len` /
//! `script_read`, `script_name_len` / `script_name_read`, `script_function_len` /
//! `script_function_read`.

use crate::host::context::{HasExec, ScriptCall};
use crate::host::probe_abi::{MODULE, write_guest};
use wasmtime::{Caller, Linker};

fn text_len<T: HasExec>(caller: &mut Caller<'_, T>, part: fn(&ScriptCall) -> &str) -> i32 {
  let exec = caller.data_mut().exec();
  exec.host_calls += 1;
  exec.script.as_ref().map_or(-1, |call| part(call).len() as i32)
}

fn text_read<T: HasExec>(
  caller: &mut Caller<'_, T>,
  call: &str,
  ptr: i32,
  part: fn(&ScriptCall) -> &str,
) -> wasmtime::Result<()> {
  let exec = caller.data_mut().exec();
  exec.host_calls += 1;
  let Some(script) = exec.script.clone() else {
    return Ok(());
  };
  write_guest(caller, call, ptr, part(&script).as_bytes())
}

fn source(call: &ScriptCall) -> &str {
  &call.text.source
}

fn filename(call: &ScriptCall) -> &str {
  &call.text.filename
}

fn function(call: &ScriptCall) -> &str {
  &call.function
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
  linker.func_wrap(MODULE, "script_function_len", |mut caller: Caller<'_, T>| {
    text_len(&mut caller, function)
  })?;
  linker.func_wrap(MODULE, "script_function_read", |mut caller: Caller<'_, T>, ptr: i32| {
    text_read(&mut caller, "script_function_read", ptr, function)
  })?;
  Ok(())
}
