//! JavaScript values to guest values, checked against the WIT (or core) type before anything
//! runs, following jco's conventions (contract §4b). A value that does not fit is a [`Mismatch`]
//! naming where inside the argument it is: `args[0].position.line: expected u32, got -1`.

use super::value::Value;
use super::{camel, describe_type};
use std::fmt;
use wasmtime::component::{Type, Val};

/// Where a value does not fit its type, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
  pub path: String,
  pub detail: String,
}

impl fmt::Display for Mismatch {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}: {}", self.path, self.detail)
  }
}

/// JavaScript nests no deeper than this going in (a cyclic object is refused here, not
/// followed until the stack runs out).
pub const MAX_DEPTH: usize = 64;

struct At<'p> {
  path: &'p mut String,
  depth: usize,
}

impl At<'_> {
  fn fail<T>(&self, detail: impl Into<String>) -> Result<T, Mismatch> {
    Err(Mismatch {
      path: self.path.clone(),
      detail: detail.into(),
    })
  }

  fn expected<T>(&self, what: &str, got: &Value) -> Result<T, Mismatch> {
    self.fail(format!("expected {what}, got {got}"))
  }

  /// Runs `f` one level down, at `path` + `step`.
  fn inside<T>(&mut self, step: &str, f: impl FnOnce(&mut At<'_>) -> Result<T, Mismatch>) -> Result<T, Mismatch> {
    if self.depth >= MAX_DEPTH {
      return self.fail(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    let len = self.path.len();
    self.path.push_str(step);
    let mut inner = At {
      path: self.path,
      depth: self.depth + 1,
    };
    let r = f(&mut inner);
    self.path.truncate(len);
    r
  }
}

/// `value` as a guest value of type `ty`; `path` names the value in messages (`args[0]`).
pub fn lower(value: &Value, ty: &Type, path: &str) -> Result<Val, Mismatch> {
  let mut path = path.to_string();
  lower_at(
    value,
    ty,
    &mut At {
      path: &mut path,
      depth: 0,
    },
  )
}

fn integer(value: &Value, min: i128, max: i128, name: &str, at: &At<'_>) -> Result<i128, Mismatch> {
  // s64/u64 take bigints and, for convenience, numbers that are exact integers.
  let wide = max > i128::from(u32::MAX);
  let n = match value {
    Value::Number(n) if n.is_finite() && n.fract() == 0.0 && (!wide || n.abs() <= 9_007_199_254_740_991.0) => {
      *n as i128
    }
    Value::BigInt(Some(n)) if wide => *n,
    _ => return at.expected(name, value),
  };
  if (min..=max).contains(&n) {
    Ok(n)
  } else {
    at.expected(name, value)
  }
}

fn lower_at(value: &Value, ty: &Type, at: &mut At<'_>) -> Result<Val, Mismatch> {
  Ok(match ty {
    Type::Bool => match value {
      Value::Bool(b) => Val::Bool(*b),
      _ => return at.expected("bool", value),
    },
    Type::S8 => Val::S8(integer(value, i8::MIN.into(), i8::MAX.into(), "s8", at)? as i8),
    Type::U8 => Val::U8(integer(value, 0, u8::MAX.into(), "u8", at)? as u8),
    Type::S16 => Val::S16(integer(value, i16::MIN.into(), i16::MAX.into(), "s16", at)? as i16),
    Type::U16 => Val::U16(integer(value, 0, u16::MAX.into(), "u16", at)? as u16),
    Type::S32 => Val::S32(integer(value, i32::MIN.into(), i32::MAX.into(), "s32", at)? as i32),
    Type::U32 => Val::U32(integer(value, 0, u32::MAX.into(), "u32", at)? as u32),
    Type::S64 => Val::S64(integer(value, i64::MIN.into(), i64::MAX.into(), "s64 (a bigint)", at)? as i64),
    Type::U64 => Val::U64(integer(value, 0, u64::MAX.into(), "u64 (a bigint)", at)? as u64),
    Type::Float32 => match value {
      Value::Number(n) => Val::Float32(*n as f32),
      _ => return at.expected("f32", value),
    },
    Type::Float64 => match value {
      Value::Number(n) => Val::Float64(*n),
      _ => return at.expected("f64", value),
    },
    Type::Char => match value {
      Value::String(s) if s.chars().count() == 1 => Val::Char(s.chars().next().unwrap_or_default()),
      _ => return at.expected("char (a string of one character)", value),
    },
    Type::String => match value {
      Value::String(s) => Val::String(s.clone()),
      _ => return at.expected("string", value),
    },
    Type::List(list) => {
      let elem = list.ty();
      match value {
        Value::Bytes(bytes) if elem == Type::U8 => Val::List(bytes.iter().map(|b| Val::U8(*b)).collect()),
        Value::Array(items) => Val::List(elements(items, &elem, at)?),
        _ if elem == Type::U8 => return at.expected("list<u8> (a Uint8Array or an array)", value),
        _ => return at.expected("a list (an array)", value),
      }
    }
    Type::FixedLengthList(list) => match value {
      Value::Array(items) if items.len() == list.len() as usize => {
        Val::FixedLengthList(elements(items, &list.ty(), at)?)
      }
      _ => return at.expected(&format!("an array of {}", list.len()), value),
    },
    Type::Map(map) => lower_map(value, &map.key(), &map.value(), at)?,
    Type::Record(record) => {
      let Value::Object(given) = value else {
        return at.expected("a record (an object)", value);
      };
      let fields: Vec<_> = record
        .fields()
        .map(|f| (f.name.to_string(), camel(f.name), f.ty))
        .collect();
      if let Some((key, _)) = given.iter().find(|(k, _)| !fields.iter().any(|(_, c, _)| c == k)) {
        let known: Vec<&str> = fields.iter().map(|(_, c, _)| c.as_str()).collect();
        return at.fail(format!(
          "unknown field '{key}'; the record's fields are {}",
          known.join(", ")
        ));
      }
      let mut out = Vec::with_capacity(fields.len());
      for (name, key, ty) in fields {
        let field = value.field(&key).unwrap_or(&Value::Undefined);
        let lowered = at.inside(&format!(".{key}"), |at| match (field, &ty) {
          (Value::Undefined, Type::Option(_)) => Ok(Val::Option(None)),
          (Value::Undefined, _) => at.fail(format!("missing; expected {}", describe_type(&ty))),
          _ => lower_at(field, &ty, at),
        })?;
        out.push((name, lowered));
      }
      Val::Record(out)
    }
    Type::Tuple(tuple) => {
      let types: Vec<Type> = tuple.types().collect();
      match value {
        Value::Array(items) if items.len() == types.len() => {
          let mut out = Vec::with_capacity(types.len());
          for (i, (item, ty)) in items.iter().zip(&types).enumerate() {
            out.push(at.inside(&format!("[{i}]"), |at| lower_at(item, ty, at))?);
          }
          Val::Tuple(out)
        }
        _ => return at.expected(&format!("a tuple (an array of {})", types.len()), value),
      }
    }
    Type::Variant(variant) => {
      let cases: Vec<(String, Option<Type>)> = variant.cases().map(|c| (c.name.to_string(), c.ty)).collect();
      let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
      let (tag, payload) = tagged(value, &names, at)?;
      let ty = cases.iter().find(|(n, _)| *n == tag).and_then(|(_, t)| t.clone());
      Val::Variant(tag, case_payload(payload, ty.as_ref(), at)?)
    }
    Type::Enum(e) => {
      let names: Vec<&str> = e.names().collect();
      match value {
        Value::String(s) if names.contains(&s.as_str()) => Val::Enum(s.clone()),
        _ => return at.expected(&format!("one of {}", quoted(&names)), value),
      }
    }
    Type::Option(option) => {
      let inner = option.ty();
      if value.is_nullish() {
        Val::Option(None)
      } else if matches!(inner, Type::Option(_)) {
        // option<option<T>>: the outer one is tagged, so that some(none) can be told from none.
        let (tag, payload) = tagged(value, &["none", "some"], at)?;
        match tag.as_str() {
          "none" => Val::Option(None),
          _ => Val::Option(case_payload(payload, Some(&inner), at)?),
        }
      } else {
        Val::Option(Some(Box::new(lower_at(value, &inner, at)?)))
      }
    }
    Type::Result(result) => {
      let (tag, payload) = tagged(value, &["ok", "err"], at)?;
      if tag == "ok" {
        Val::Result(Ok(case_payload(payload, result.ok().as_ref(), at)?))
      } else {
        Val::Result(Err(case_payload(payload, result.err().as_ref(), at)?))
      }
    }
    Type::Flags(flags) => {
      let Value::Object(given) = value else {
        return at.expected("flags (an object of booleans)", value);
      };
      let names: Vec<(String, String)> = flags.names().map(|n| (n.to_string(), camel(n))).collect();
      let mut set = Vec::new();
      for (key, v) in given {
        let Some((name, _)) = names.iter().find(|(_, c)| c == key) else {
          let known: Vec<&str> = names.iter().map(|(_, c)| c.as_str()).collect();
          return at.fail(format!("unknown flag '{key}'; the flags are {}", known.join(", ")));
        };
        match v {
          Value::Bool(true) => set.push(name.clone()),
          Value::Bool(false) | Value::Undefined => {}
          other => return at.inside(&format!(".{key}"), |at| at.expected("a boolean", other)),
        }
      }
      Val::Flags(set)
    }
    Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
      return at.fail(format!("{} cannot be passed from JavaScript", describe_type(ty)));
    }
  })
}

fn elements(items: &[Value], ty: &Type, at: &mut At<'_>) -> Result<Vec<Val>, Mismatch> {
  let mut out = Vec::with_capacity(items.len());
  for (i, item) in items.iter().enumerate() {
    out.push(at.inside(&format!("[{i}]"), |at| lower_at(item, ty, at))?);
  }
  Ok(out)
}

/// A map: an array of `[key, value]` pairs, or a plain object when the keys are strings.
fn lower_map(value: &Value, key: &Type, val: &Type, at: &mut At<'_>) -> Result<Val, Mismatch> {
  let mut out = Vec::new();
  match value {
    Value::Array(pairs) => {
      for (i, pair) in pairs.iter().enumerate() {
        let Value::Array(kv) = pair else {
          return at.inside(&format!("[{i}]"), |at| at.expected("a [key, value] pair", pair));
        };
        let [k, v] = kv.as_slice() else {
          return at.inside(&format!("[{i}]"), |at| at.expected("a [key, value] pair", pair));
        };
        let k = at.inside(&format!("[{i}][0]"), |at| lower_at(k, key, at))?;
        let v = at.inside(&format!("[{i}][1]"), |at| lower_at(v, val, at))?;
        out.push((k, v));
      }
    }
    Value::Object(fields) if *key == Type::String => {
      for (k, v) in fields {
        let v = at.inside(&format!(".{k}"), |at| lower_at(v, val, at))?;
        out.push((Val::String(k.clone()), v));
      }
    }
    _ => return at.expected("a map (an array of [key, value] pairs)", value),
  }
  Ok(Val::Map(out))
}

/// `{ tag, val }` with `tag` one of `names`.
fn tagged<'v>(value: &'v Value, names: &[&str], at: &mut At<'_>) -> Result<(String, Option<&'v Value>), Mismatch> {
  let Value::Object(fields) = value else {
    return at.expected(&format!("{{ tag, val }} with tag {}", quoted(names)), value);
  };
  if let Some((key, _)) = fields.iter().find(|(k, _)| k != "tag" && k != "val") {
    return at.fail(format!("unknown key '{key}'; expected {{ tag, val }}"));
  }
  match value.field("tag") {
    Some(Value::String(tag)) if names.contains(&tag.as_str()) => Ok((tag.clone(), value.field("val"))),
    other => at.inside(".tag", |at| {
      at.expected(&format!("one of {}", quoted(names)), other.unwrap_or(&Value::Undefined))
    }),
  }
}

/// The payload of a case: required when the case has a type, absent when it has none.
fn case_payload(payload: Option<&Value>, ty: Option<&Type>, at: &mut At<'_>) -> Result<Option<Box<Val>>, Mismatch> {
  let payload = payload.filter(|v| **v != Value::Undefined);
  at.inside(".val", |at| match (payload, ty) {
    (None, None) => Ok(None),
    (Some(v), None) => at.fail(format!("the case has no payload, got {v}")),
    (Some(v), Some(ty)) => Ok(Some(Box::new(lower_at(v, ty, at)?))),
    (None, Some(Type::Option(_))) => Ok(Some(Box::new(Val::Option(None)))),
    (None, Some(ty)) => at.fail(format!("missing; expected {}", describe_type(ty))),
  })
}

fn quoted(names: &[&str]) -> String {
  names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(" | ")
}

/// A number (or bigint) for a core wasm parameter: i32 and i64 take signed or unsigned values
/// (wrapped to their bits, as WebAssembly's JavaScript API does), i64 as a bigint or an exact
/// integer number.
pub fn lower_core(value: &Value, ty: &wasmtime::ValType, path: &str) -> Result<wasmtime::Val, Mismatch> {
  let mut path = path.to_string();
  let at = At {
    path: &mut path,
    depth: 0,
  };
  Ok(match ty {
    wasmtime::ValType::I32 => {
      wasmtime::Val::I32(integer(value, i32::MIN.into(), u32::MAX.into(), "i32", &at)? as u32 as i32)
    }
    wasmtime::ValType::I64 => {
      wasmtime::Val::I64(integer(value, i64::MIN.into(), u64::MAX.into(), "i64 (a bigint)", &at)? as u64 as i64)
    }
    wasmtime::ValType::F32 => match value {
      Value::Number(n) => wasmtime::Val::F32((*n as f32).to_bits()),
      _ => return at.expected("f32", value),
    },
    wasmtime::ValType::F64 => match value {
      Value::Number(n) => wasmtime::Val::F64(n.to_bits()),
      _ => return at.expected("f64", value),
    },
    other => return at.fail(format!("{other} values cannot be passed from JavaScript")),
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn integers_are_checked_for_range_and_kind() {
    let at = At {
      path: &mut "x".to_string(),
      depth: 0,
    };
    assert_eq!(integer(&Value::Number(255.0), 0, 255, "u8", &at), Ok(255));
    let e = integer(&Value::Number(-1.0), 0, u32::MAX.into(), "u32", &at).unwrap_err();
    assert_eq!(e.to_string(), "x: expected u32, got -1");
    assert!(integer(&Value::Number(1.5), 0, 255, "u8", &at).is_err());
    assert!(
      integer(&Value::BigInt(Some(1)), 0, 255, "u8", &at).is_err(),
      "narrow ints take numbers"
    );
    assert_eq!(
      integer(&Value::BigInt(Some(-5)), i64::MIN.into(), i64::MAX.into(), "s64", &at),
      Ok(-5)
    );
    assert!(
      integer(&Value::Number(2f64.powi(60)), 0, u64::MAX.into(), "u64", &at).is_err(),
      "inexact number"
    );
  }

  #[test]
  fn core_values_wrap_like_the_js_api() {
    let v = lower_core(&Value::Number(4_294_967_295.0), &wasmtime::ValType::I32, "args[0]").unwrap();
    assert_eq!(v.i32(), Some(-1));
    let e = lower_core(&Value::String("1".into()), &wasmtime::ValType::I64, "args[1]").unwrap_err();
    assert_eq!(e.to_string(), "args[1]: expected i64 (a bigint), got '1'");
  }
}
