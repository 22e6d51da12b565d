//! The one error type of the core, with the stable codes of the public contract.

use std::fmt;

/// Stable error codes. `as_str` is what JavaScript sees as `err.code`; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
  InvalidModule,
  Link,
  CapabilityDenied,
  NoExport,
  Trap,
  StackOverflow,
  MemoryLimit,
  FuelExhausted,
  Timeout,
  Cancelled,
  BadOutput,
  Host,
  InstanceDisabled,
  Closed,
  Busy,
  InvalidArgValue,
  InvalidArgType,
  GuestError,
}

impl ErrorCode {
  pub const ALL: [ErrorCode; 18] = [
    ErrorCode::InvalidModule,
    ErrorCode::Link,
    ErrorCode::CapabilityDenied,
    ErrorCode::NoExport,
    ErrorCode::Trap,
    ErrorCode::StackOverflow,
    ErrorCode::MemoryLimit,
    ErrorCode::FuelExhausted,
    ErrorCode::Timeout,
    ErrorCode::Cancelled,
    ErrorCode::BadOutput,
    ErrorCode::Host,
    ErrorCode::InstanceDisabled,
    ErrorCode::Closed,
    ErrorCode::Busy,
    ErrorCode::InvalidArgValue,
    ErrorCode::InvalidArgType,
    ErrorCode::GuestError,
  ];

  pub fn as_str(self) -> &'static str {
    match self {
      ErrorCode::InvalidModule => "ERR_WASM_INVALID_MODULE",
      ErrorCode::Link => "ERR_WASM_LINK",
      ErrorCode::CapabilityDenied => "ERR_WASM_CAPABILITY_DENIED",
      ErrorCode::NoExport => "ERR_WASM_NO_EXPORT",
      ErrorCode::Trap => "ERR_WASM_TRAP",
      ErrorCode::StackOverflow => "ERR_WASM_STACK_OVERFLOW",
      ErrorCode::MemoryLimit => "ERR_WASM_MEMORY_LIMIT",
      ErrorCode::FuelExhausted => "ERR_WASM_FUEL_EXHAUSTED",
      ErrorCode::Timeout => "ERR_WASM_TIMEOUT",
      ErrorCode::Cancelled => "ERR_WASM_CANCELLED",
      ErrorCode::BadOutput => "ERR_WASM_BAD_OUTPUT",
      ErrorCode::Host => "ERR_WASM_HOST",
      ErrorCode::InstanceDisabled => "ERR_WASM_INSTANCE_DISABLED",
      ErrorCode::Closed => "ERR_WASM_CLOSED",
      ErrorCode::Busy => "ERR_WASM_BUSY",
      ErrorCode::InvalidArgValue => "ERR_INVALID_ARG_VALUE",
      ErrorCode::InvalidArgType => "ERR_INVALID_ARG_TYPE",
      ErrorCode::GuestError => "ERR_WASM_GUEST_ERROR",
    }
  }
}

impl fmt::Display for ErrorCode {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(self.as_str())
  }
}

/// What a trap looked like: a stable kind and the guest's wasm backtrace, innermost frame first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapInfo {
  pub kind: String,
  pub backtrace: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ProbeError {
  pub code: ErrorCode,
  pub message: String,
  pub trap: Option<TrapInfo>,
}

impl ProbeError {
  pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
    ProbeError {
      code,
      message: message.into(),
      trap: None,
    }
  }

  pub fn with_trap(mut self, trap: TrapInfo) -> Self {
    self.trap = Some(trap);
    self
  }

  /// A caller passed an option with a value outside what is allowed.
  pub fn invalid_value(option: &str, detail: impl fmt::Display) -> Self {
    ProbeError::new(
      ErrorCode::InvalidArgValue,
      format!("The option \"{option}\" is invalid: {detail}"),
    )
  }

  pub fn invalid_module(detail: impl fmt::Display) -> Self {
    ProbeError::new(ErrorCode::InvalidModule, detail.to_string())
  }

  pub fn closed() -> Self {
    ProbeError::new(ErrorCode::Closed, "the runtime has been closed")
  }
}

impl fmt::Display for ProbeError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}: {}", self.code, self.message)
  }
}

impl std::error::Error for ProbeError {}

/// Every message of a wasmtime error chain, outermost first, joined for a human.
pub fn chain_message(err: &wasmtime::Error) -> String {
  let mut parts: Vec<String> = Vec::new();
  for cause in err.chain() {
    let text = cause.to_string();
    if !parts.iter().any(|p| p.contains(&text)) {
      parts.push(text);
    }
  }
  parts.join(": ")
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn codes_are_unique_and_stable() {
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
      assert!(seen.insert(code.as_str()), "duplicate code {code}");
      assert!(code.as_str().starts_with("ERR_"));
    }
    assert_eq!(ErrorCode::Trap.as_str(), "ERR_WASM_TRAP");
    assert_eq!(ErrorCode::InvalidArgValue.as_str(), "ERR_INVALID_ARG_VALUE");
  }

  #[test]
  fn invalid_value_names_the_option() {
    let e = ProbeError::invalid_value("limits.timeoutMs", "must be positive");
    assert_eq!(e.code, ErrorCode::InvalidArgValue);
    assert!(e.message.contains("limits.timeoutMs"));
  }
}
