//! A JavaScript value as plain data: what the binding reads from JavaScript arguments and what
//! it turns back into JavaScript. The core maps it to and from guest values without napi.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
  Undefined,
  Null,
  Bool(bool),
  Number(f64),
  /// A bigint, or `None` when it does not fit 128 bits (no WIT integer is that wide).
  BigInt(Option<i128>),
  String(String),
  /// A `Uint8Array` (or a Node `Buffer`).
  Bytes(Vec<u8>),
  Array(Vec<Value>),
  /// A plain object's own enumerable string keys, in order.
  Object(Vec<(String, Value)>),
  /// Anything else (a function, a symbol, another typed array, ...), by its description.
  Other(String),
}

impl Value {
  pub fn field(&self, key: &str) -> Option<&Value> {
    match self {
      Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
      _ => None,
    }
  }

  /// Absent in the JavaScript sense: `undefined` or `null`.
  pub fn is_nullish(&self) -> bool {
    matches!(self, Value::Undefined | Value::Null)
  }
}

/// What a value is, for error messages: `-1`, `'abc'`, `an object`, `an array of 3`, ...
impl fmt::Display for Value {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Value::Undefined => f.write_str("undefined"),
      Value::Null => f.write_str("null"),
      Value::Bool(b) => write!(f, "{b}"),
      Value::Number(n) => write!(f, "{n}"),
      Value::BigInt(Some(n)) => write!(f, "{n}n"),
      Value::BigInt(None) => f.write_str("a bigint wider than 128 bits"),
      Value::String(s) => {
        let shown: String = s.chars().take(24).collect();
        if shown.len() < s.len() {
          write!(f, "'{shown}...'")
        } else {
          write!(f, "'{shown}'")
        }
      }
      Value::Bytes(b) => write!(f, "a Uint8Array of {} bytes", b.len()),
      Value::Array(a) => write!(f, "an array of {}", a.len()),
      Value::Object(_) => f.write_str("an object"),
      Value::Other(what) => f.write_str(what),
    }
  }
}
