//! Guest values to JavaScript values, by their WIT (or core) type, following jco's conventions:
//! s64/u64 → bigint, list<u8> → Uint8Array, records and flags → objects with camelCase keys,
//! variants and results → `{ tag, val }`, enums → strings, option<T> → T | undefined (the outer
//! of two nested options → `{ tag: 'none' | 'some', val }`).

use super::camel;
use super::value::Value;
use wasmtime::component::{Type, Val};

pub fn lift(val: &Val, ty: &Type) -> Value {
  match (val, ty) {
    (Val::Bool(b), _) => Value::Bool(*b),
    (Val::S8(n), _) => Value::Number(f64::from(*n)),
    (Val::U8(n), _) => Value::Number(f64::from(*n)),
    (Val::S16(n), _) => Value::Number(f64::from(*n)),
    (Val::U16(n), _) => Value::Number(f64::from(*n)),
    (Val::S32(n), _) => Value::Number(f64::from(*n)),
    (Val::U32(n), _) => Value::Number(f64::from(*n)),
    (Val::S64(n), _) => Value::BigInt(Some(i128::from(*n))),
    (Val::U64(n), _) => Value::BigInt(Some(i128::from(*n))),
    (Val::Float32(n), _) => Value::Number(f64::from(*n)),
    (Val::Float64(n), _) => Value::Number(*n),
    (Val::Char(c), _) => Value::String(c.to_string()),
    (Val::String(s), _) => Value::String(s.clone()),
    (Val::List(items), Type::List(list)) => {
      let elem = list.ty();
      if elem == Type::U8 {
        Value::Bytes(items.iter().map(|v| if let Val::U8(b) = v { *b } else { 0 }).collect())
      } else {
        Value::Array(items.iter().map(|v| lift(v, &elem)).collect())
      }
    }
    (Val::FixedLengthList(items), Type::FixedLengthList(list)) => {
      let elem = list.ty();
      Value::Array(items.iter().map(|v| lift(v, &elem)).collect())
    }
    (Val::Map(pairs), Type::Map(map)) => {
      let (k, v) = (map.key(), map.value());
      Value::Array(
        pairs
          .iter()
          .map(|(key, val)| Value::Array(vec![lift(key, &k), lift(val, &v)]))
          .collect(),
      )
    }
    (Val::Record(fields), Type::Record(record)) => Value::Object(
      fields
        .iter()
        .zip(record.fields())
        .map(|((name, v), field)| (camel(name), lift(v, &field.ty)))
        .collect(),
    ),
    (Val::Tuple(items), Type::Tuple(tuple)) => {
      Value::Array(items.iter().zip(tuple.types()).map(|(v, t)| lift(v, &t)).collect())
    }
    (Val::Variant(tag, payload), Type::Variant(variant)) => {
      let ty = variant.cases().find(|c| c.name == tag).and_then(|c| c.ty);
      tagged(tag, payload.as_deref().zip(ty.as_ref()))
    }
    (Val::Enum(name), _) => Value::String(name.clone()),
    (Val::Option(v), Type::Option(option)) => {
      let inner = option.ty();
      match (v, matches!(inner, Type::Option(_))) {
        (None, false) => Value::Undefined,
        (Some(v), false) => lift(v, &inner),
        (None, true) => tagged("none", None),
        (Some(v), true) => tagged("some", Some((v, &inner))),
      }
    }
    (Val::Result(r), Type::Result(result)) => match r {
      Ok(v) => tagged("ok", v.as_deref().zip(result.ok().as_ref())),
      Err(v) => tagged("err", v.as_deref().zip(result.err().as_ref())),
    },
    (Val::Flags(set), Type::Flags(flags)) => Value::Object(
      flags
        .names()
        .map(|n| (camel(n), Value::Bool(set.iter().any(|s| s == n))))
        .collect(),
    ),
    // Resources, futures and streams are refused before a call starts; a value that does not
    // match its type cannot come out of Wasmtime.
    (other, _) => Value::Other(format!("an unsupported guest value ({other:?})")),
  }
}

fn tagged(tag: &str, payload: Option<(&Val, &Type)>) -> Value {
  let mut fields = vec![("tag".to_string(), Value::String(tag.to_string()))];
  if let Some((v, ty)) = payload {
    fields.push(("val".to_string(), lift(v, ty)));
  }
  Value::Object(fields)
}

/// A core wasm result: i32, f32, f64 → number; i64 → bigint (signed).
pub fn lift_core(val: &wasmtime::Val) -> Value {
  match val {
    wasmtime::Val::I32(n) => Value::Number(f64::from(*n)),
    wasmtime::Val::I64(n) => Value::BigInt(Some(i128::from(*n))),
    wasmtime::Val::F32(bits) => Value::Number(f64::from(f32::from_bits(*bits))),
    wasmtime::Val::F64(bits) => Value::Number(f64::from_bits(*bits)),
    other => Value::Other(format!("an unsupported core value ({other:?})")),
  }
}
