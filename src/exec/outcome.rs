//! Turning what happened in a store into the contract's answer: the guest's own result, or a
//! `ProbeError` with the right code and a message a user can act on.

use crate::error::{ErrorCode, ProbeError, TrapInfo, chain_message};
use crate::host::context::ExecState;
use crate::limits::Limits;
use crate::stop::StopReason;
use wasmtime::{Trap, WasmBacktrace};

/// What the guest itself answered.
#[derive(Debug, Clone, PartialEq)]
pub enum GuestAnswer {
  /// It succeeded, with its output JSON text if it wrote any.
  Success(Option<String>),
  /// It reported failure with this message.
  Failure(String),
  /// A typed call returned this value (a top-level `result`'s `ok`, or the value itself).
  Value(crate::typed::value::Value),
  /// A typed call's top-level `result` was `err`, with this payload.
  Error {
    message: String,
    payload: crate::typed::value::Value,
  },
}

/// The guest's output must be UTF-8 JSON.
pub fn validate_output(bytes: Vec<u8>) -> Result<String, ProbeError> {
  let text = String::from_utf8(bytes).map_err(|e| {
    ProbeError::new(
      ErrorCode::BadOutput,
      format!(
        "the guest's output is not valid UTF-8 (invalid byte at offset {})",
        e.utf8_error().valid_up_to()
      ),
    )
  })?;
  if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
    let mut preview: String = text.chars().take(80).collect();
    if preview.len() < text.len() {
      preview.push('…');
    }
    return Err(ProbeError::new(
      ErrorCode::BadOutput,
      format!("the guest's output is not JSON ({e}); it begins: {preview:?}"),
    ));
  }
  Ok(text)
}

pub fn stop_error(reason: StopReason, limits: &Limits) -> ProbeError {
  match reason {
    StopReason::Timeout => ProbeError::new(
      ErrorCode::Timeout,
      format!(
        "the execution exceeded its wall-clock timeout of {} ms ({})",
        limits.timeout.as_secs_f64() * 1000.0,
        limits.timeout_option
      ),
    ),
    StopReason::Cancelled => ProbeError::new(ErrorCode::Cancelled, "the execution was cancelled by its AbortSignal"),
    StopReason::Closed => ProbeError::new(
      ErrorCode::Closed,
      "the runtime was closed while the execution was running",
    ),
  }
}

/// `UnreachableCodeReached` → `unreachable-code-reached`.
fn kebab(name: &str) -> String {
  let mut out = String::with_capacity(name.len() + 4);
  for (i, c) in name.chars().enumerate() {
    if c.is_ascii_uppercase() {
      if i > 0 {
        out.push('-');
      }
      out.push(c.to_ascii_lowercase());
    } else {
      out.push(c);
    }
  }
  out
}

fn backtrace(err: &wasmtime::Error) -> Vec<String> {
  let Some(bt) = err.downcast_ref::<WasmBacktrace>() else {
    return Vec::new();
  };
  bt.frames()
    .iter()
    .map(|frame| {
      let module = frame.module().name().unwrap_or("<module>");
      let func = frame
        .func_name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("func[{}]", frame.func_index()));
      match frame.module_offset() {
        Some(offset) => format!("{module}!{func} @ {offset:#x}"),
        None => format!("{module}!{func}"),
      }
    })
    .collect()
}

fn with_backtrace(message: String, frames: &[String]) -> String {
  if frames.is_empty() {
    return message;
  }
  let mut out = message;
  out.push_str("\nwasm backtrace:");
  for (i, f) in frames.iter().enumerate() {
    out.push_str(&format!("\n  {i}: {f}"));
  }
  out
}

/// Classifies an error that ended an execution, using what the store saw on the way.
pub fn classify(err: wasmtime::Error, exec: &mut ExecState, limits: &Limits) -> ProbeError {
  let frames = backtrace(&err);
  if let Some(mut fault) = exec.host_fault.take() {
    // A host function failed the execution for a reason of its own (a bad pointer, a refused
    // capability); traps among them get the guest's backtrace.
    if let Some(trap) = fault.trap.as_mut() {
      trap.backtrace = frames.clone();
      fault.message = with_backtrace(fault.message, &frames);
    }
    return fault;
  }
  if let Some(reason) = exec.stop.reason() {
    return stop_error(reason, limits);
  }
  let trap = err.downcast_ref::<Trap>().copied();
  let info = |kind: String| TrapInfo {
    kind,
    backtrace: frames.clone(),
  };
  match trap {
    Some(Trap::StackOverflow) => ProbeError::new(
      ErrorCode::StackOverflow,
      with_backtrace(
        format!(
          "the guest exhausted its wasm stack (limits.stackBytes = {} bytes)",
          limits.stack_bytes
        ),
        &frames,
      ),
    )
    .with_trap(info("stack-overflow".into())),
    Some(Trap::OutOfFuel) => ProbeError::new(
      ErrorCode::FuelExhausted,
      format!(
        "the guest used up its fuel budget of {} (limits.fuel)",
        limits.fuel.unwrap_or_default()
      ),
    )
    .with_trap(info("out-of-fuel".into())),
    Some(Trap::Interrupt) => stop_error(StopReason::Timeout, limits),
    _ if exec.limiter.refused.is_some() => {
      let refused = exec.limiter.refused.clone().unwrap_or_default();
      let kind = trap.map(|t| kebab(&format!("{t:?}"))).unwrap_or_else(|| "error".into());
      ProbeError::new(
        ErrorCode::MemoryLimit,
        with_backtrace(
          format!(
            "memory limit: {refused}; the guest then failed: {}",
            trap.map(|t| t.to_string()).unwrap_or_else(|| chain_message(&err))
          ),
          &frames,
        ),
      )
      .with_trap(info(kind))
    }
    Some(t) => {
      let kind = kebab(&format!("{t:?}"));
      // Wasmtime's Display of a trap already begins "wasm trap: ".
      ProbeError::new(ErrorCode::Trap, with_backtrace(t.to_string(), &frames)).with_trap(info(kind))
    }
    None => ProbeError::new(
      ErrorCode::Trap,
      with_backtrace(format!("the guest failed: {}", chain_message(&err)), &frames),
    )
    .with_trap(info("error".into())),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn output_must_be_utf8_json() {
    assert_eq!(validate_output(b"{\"a\":1}".to_vec()).unwrap(), "{\"a\":1}");
    let e = validate_output(b"not json".to_vec()).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadOutput);
    assert!(e.message.contains("not JSON"), "{}", e.message);
    let e = validate_output(vec![b'"', 0xff, b'"']).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadOutput);
    assert!(e.message.contains("UTF-8"));
  }

  #[test]
  fn trap_names_are_kebab_case() {
    assert_eq!(kebab("UnreachableCodeReached"), "unreachable-code-reached");
    assert_eq!(kebab("MemoryOutOfBounds"), "memory-out-of-bounds");
  }
}
