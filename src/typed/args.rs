//! A typed call's arguments once checked and converted, and the line its `err` result makes.

use crate::typed::value::Value;

/// Arguments checked and converted for one typed call.
pub enum TypedArgs {
  Core(Vec<wasmtime::Val>),
  Component(Vec<wasmtime::component::Val>),
}

/// What a typed call's `err` says, in a line: a string payload itself, a variant's tag and its
/// string payload, or a pointer to `err.payload`.
pub fn guest_error_message(function: &str, payload: &Value) -> String {
  let detail = match payload {
    Value::String(s) => format!(": {s}"),
    Value::Object(_) => match (payload.field("tag"), payload.field("val")) {
      (Some(Value::String(tag)), Some(Value::String(val))) => format!(": {tag}: {val}"),
      (Some(Value::String(tag)), None) => format!(": {tag}"),
      _ => " (see err.payload)".to_string(),
    },
    Value::Undefined => String::new(),
    _ => " (see err.payload)".to_string(),
  };
  format!("\"{function}\" returned an error{detail}")
}
