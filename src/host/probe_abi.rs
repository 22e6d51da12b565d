//! The core-module ABI: import module `"probe"` (contract section 2b). Pointers and lengths are
//! offsets into the guest's exported `memory`; every access is bounds-checked and a bad one fails
//! the execution with a message that names the call.

use crate::error::{ErrorCode, ProbeError, TrapInfo};
use crate::host::context::HasExec;
use crate::host::http::{FetchError, HttpRequest, HttpResponse};
use crate::host::log::{Level, Source};
use crate::host::{clock, json};
use serde::Deserialize;
use wasmtime::{Caller, Extern, Linker, Memory};

pub const MODULE: &str = "probe";

/// Records a host fault and returns the error that unwinds the guest.
fn fault<T: HasExec>(caller: &mut Caller<'_, T>, message: String) -> wasmtime::Error {
  let err = ProbeError::new(ErrorCode::Trap, message).with_trap(TrapInfo {
    kind: "host-memory-out-of-bounds".into(),
    backtrace: Vec::new(),
  });
  caller.data_mut().exec().host_fault = Some(err.clone());
  wasmtime::Error::msg(err.message)
}

fn memory<T: HasExec>(caller: &mut Caller<'_, T>, call: &str) -> wasmtime::Result<Memory> {
  match caller.get_export("memory") {
    Some(Extern::Memory(m)) => Ok(m),
    _ => Err(fault(
      caller,
      format!("probe.{call}: the module must export its linear memory as \"memory\""),
    )),
  }
}

fn range<T: HasExec>(
  caller: &mut Caller<'_, T>,
  mem: Memory,
  call: &str,
  ptr: i32,
  len: usize,
) -> wasmtime::Result<std::ops::Range<usize>> {
  let size = mem.data_size(&*caller);
  let start = ptr as u32 as usize;
  match start.checked_add(len) {
    Some(end) if end <= size => Ok(start..end),
    _ => Err(fault(
      caller,
      format!(
        "probe.{call}: host buffer out of bounds: {len} bytes at offset {start} do not fit in linear memory of {size} bytes"
      ),
    )),
  }
}

/// Bytes a host call moves per unit of fuel it is charged.
const BYTES_PER_FUEL: usize = 8;

/// Charges the guest for the bytes a host call moves, as if its own code had copied them: a
/// guest with no capability could otherwise loop on big, cheap-looking host calls (`probe.log`
/// of a large buffer) and outrun its fuel budget and the first slice's bound on fuel.
fn charge<T: HasExec>(caller: &mut Caller<'_, T>, bytes: usize) {
  let cost = (bytes / BYTES_PER_FUEL) as u64;
  if cost > 0
    && let Ok(left) = caller.get_fuel()
  {
    let _ = caller.set_fuel(left.saturating_sub(cost));
  }
}

fn read_guest<T: HasExec>(caller: &mut Caller<'_, T>, call: &str, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
  if len < 0 {
    return Err(fault(caller, format!("probe.{call}: negative length {len}")));
  }
  let mem = memory(caller, call)?;
  let r = range(caller, mem, call, ptr, len as usize)?;
  charge(caller, r.len());
  Ok(mem.data(&*caller)[r].to_vec())
}

pub(crate) fn write_guest<T: HasExec>(
  caller: &mut Caller<'_, T>,
  call: &str,
  ptr: i32,
  bytes: &[u8],
) -> wasmtime::Result<()> {
  charge(caller, bytes.len());
  let mem = memory(caller, call)?;
  let r = range(caller, mem, call, ptr, bytes.len())?;
  mem.data_mut(&mut *caller)[r].copy_from_slice(bytes);
  Ok(())
}

fn set_result<T: HasExec>(caller: &mut Caller<'_, T>, bytes: Vec<u8>) -> i32 {
  let len = bytes.len() as i32;
  caller.data_mut().exec().last_result = bytes;
  len
}

/// The request JSON of `http_fetch`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchRequest {
  #[serde(default = "default_method")]
  method: String,
  url: String,
  #[serde(default)]
  headers: Vec<(String, String)>,
  body: Option<String>,
  timeout_ms: Option<u64>,
}

fn default_method() -> String {
  "GET".into()
}

fn fetch_result_json(result: Result<HttpResponse, FetchError>) -> Vec<u8> {
  let value = match result {
    Ok(r) => serde_json::json!({ "ok": {
      "status": r.status,
      "headers": r.headers,
      "body": String::from_utf8_lossy(&r.body),
    }}),
    Err(err) => serde_json::json!({ "err": { "kind": err.kind(), "message": err.message() } }),
  };
  value.to_string().into_bytes()
}

pub fn add_to_linker<T: HasExec>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
  linker.func_wrap(MODULE, "input_len", |mut caller: Caller<'_, T>| -> i32 {
    let exec = caller.data_mut().exec();
    exec.host_calls += 1;
    exec.input.len() as i32
  })?;
  linker.func_wrap(MODULE, "input_read", |mut caller: Caller<'_, T>, ptr: i32| {
    caller.data_mut().exec().host_calls += 1;
    let input = caller.data_mut().exec().input.clone();
    write_guest(&mut caller, "input_read", ptr, input.as_bytes())
  })?;
  linker.func_wrap(
    MODULE,
    "output_write",
    |mut caller: Caller<'_, T>, ptr: i32, len: i32| {
      caller.data_mut().exec().host_calls += 1;
      let bytes = read_guest(&mut caller, "output_write", ptr, len)?;
      caller.data_mut().exec().output = Some(bytes);
      Ok(())
    },
  )?;
  linker.func_wrap(
    MODULE,
    "error_write",
    |mut caller: Caller<'_, T>, ptr: i32, len: i32| {
      caller.data_mut().exec().host_calls += 1;
      let bytes = read_guest(&mut caller, "error_write", ptr, len)?;
      caller.data_mut().exec().failure = Some(bytes);
      Ok(())
    },
  )?;
  linker.func_wrap(
    MODULE,
    "log",
    |mut caller: Caller<'_, T>, level: i32, ptr: i32, len: i32| {
      caller.data_mut().exec().host_calls += 1;
      let bytes = read_guest(&mut caller, "log", ptr, len)?;
      let logs = caller.data_mut().exec().logs.clone();
      let mut book = logs.book();
      match Level::from_abi(level) {
        Ok(level) => book.push(level, Source::Guest, &bytes),
        Err(bad) => {
          let mut text = format!("[probe.log called with level {bad}, expected 0..4] ").into_bytes();
          text.extend_from_slice(&bytes);
          book.push(Level::Warn, Source::Guest, &text);
        }
      }
      Ok(())
    },
  )?;
  linker.func_wrap(
    MODULE,
    "event_emit",
    |mut caller: Caller<'_, T>, name_ptr: i32, name_len: i32, data_ptr: i32, data_len: i32| {
      caller.data_mut().exec().host_calls += 1;
      let name = read_guest(&mut caller, "event_emit", name_ptr, name_len)?;
      let data = read_guest(&mut caller, "event_emit", data_ptr, data_len)?;
      caller.data_mut().exec().logs.book().emit(&name, &data);
      Ok(())
    },
  )?;
  linker.func_wrap_async(
    MODULE,
    "http_fetch",
    |mut caller: Caller<'_, T>, (ptr, len): (i32, i32)| {
      Box::new(async move {
        caller.data_mut().exec().host_calls += 1;
        if let Some(refusal) = caller.data_mut().exec().refuse_if_synchronous("http") {
          return Err(wasmtime::Error::msg(refusal.message));
        }
        let bytes = read_guest(&mut caller, "http_fetch", ptr, len)?;
        let result = match serde_json::from_slice::<FetchRequest>(&bytes) {
          Err(e) => Err(FetchError::Failed(format!("invalid request JSON: {e}"))),
          Ok(req) => {
            let http = caller.data_mut().exec().http.clone();
            http
              .fetch(HttpRequest {
                method: req.method,
                url: req.url,
                headers: req.headers,
                body: req.body.map(String::into_bytes),
                timeout_ms: req.timeout_ms,
              })
              .await
          }
        };
        let result = fetch_result_json(result);
        Ok(set_result(&mut caller, result))
      })
    },
  )?;
  linker.func_wrap(
    MODULE,
    "json_get",
    |mut caller: Caller<'_, T>, doc_ptr: i32, doc_len: i32, ptr_ptr: i32, ptr_len: i32| {
      caller.data_mut().exec().host_calls += 1;
      let doc = read_guest(&mut caller, "json_get", doc_ptr, doc_len)?;
      let pointer = read_guest(&mut caller, "json_get", ptr_ptr, ptr_len)?;
      let (Ok(doc), Ok(pointer)) = (std::str::from_utf8(&doc), std::str::from_utf8(&pointer)) else {
        return Ok(-2);
      };
      Ok(match json::get(doc, pointer) {
        Ok(Some(text)) => set_result(&mut caller, text.into_bytes()),
        Ok(None) => -1,
        Err(_) => -2,
      })
    },
  )?;
  linker.func_wrap(MODULE, "result_read", |mut caller: Caller<'_, T>, ptr: i32| {
    caller.data_mut().exec().host_calls += 1;
    let result = std::mem::take(&mut caller.data_mut().exec().last_result);
    let written = write_guest(&mut caller, "result_read", ptr, &result);
    caller.data_mut().exec().last_result = result;
    written
  })?;
  // A fault-injection hook for the test suite only: with WASM_PROBE_TEST_HOOKS=1 in the
  // environment when the runtime starts, `probe.__test_panic` panics inside a host function, to
  // prove that a panic under a call becomes ERR_WASM_HOST instead of aborting the process.
  if std::env::var_os("WASM_PROBE_TEST_HOOKS").is_some_and(|v| v == "1") {
    linker.func_wrap(MODULE, "__test_panic", |_caller: Caller<'_, T>| -> i32 {
      panic!("a host function panicked (WASM_PROBE_TEST_HOOKS fault injection)")
    })?;
  }
  linker.func_wrap(MODULE, "now_ms", |mut caller: Caller<'_, T>| -> i64 {
    caller.data_mut().exec().host_calls += 1;
    clock::now_ms() as i64
  })?;
  linker.func_wrap(MODULE, "monotonic_ns", |mut caller: Caller<'_, T>| -> i64 {
    caller.data_mut().exec().host_calls += 1;
    clock::monotonic_ns() as i64
  })?;
  Ok(())
}
