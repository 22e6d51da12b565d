//! Typed calls (contract §4b): a guest's exports invoked with JavaScript values and its own
//! imports served by JavaScript functions, with values mapped by jco's conventions; and what a
//! guest offers, as WIT.

pub mod args;
pub mod lift;
pub mod lower;
pub mod reflect;
pub mod typescript;
pub mod value;

use crate::error::{ErrorCode, ProbeError};
use crate::exec::link::{Artifact, Prepared};
use args::TypedArgs;
use heck::ToLowerCamelCase;
use value::Value;
use wasmtime::component::Type;
use wasmtime::component::types::{ComponentFunc, ComponentItem};

/// A WIT name as jco writes it in JavaScript: `timeout-ms` → `timeoutMs`.
pub fn camel(name: &str) -> String {
  name.to_lower_camel_case()
}

/// A type as an error message names what was expected.
pub fn describe_type(ty: &Type) -> String {
  match ty {
    Type::Bool => "bool".into(),
    Type::S8 => "s8".into(),
    Type::U8 => "u8".into(),
    Type::S16 => "s16".into(),
    Type::U16 => "u16".into(),
    Type::S32 => "s32".into(),
    Type::U32 => "u32".into(),
    Type::S64 => "s64".into(),
    Type::U64 => "u64".into(),
    Type::Float32 => "f32".into(),
    Type::Float64 => "f64".into(),
    Type::Char => "char".into(),
    Type::String => "string".into(),
    Type::List(l) => format!("list<{}>", describe_type(&l.ty())),
    Type::FixedLengthList(l) => format!("list<{}, {}>", describe_type(&l.ty()), l.len()),
    Type::Map(m) => format!("map<{}, {}>", describe_type(&m.key()), describe_type(&m.value())),
    Type::Record(_) => "a record".into(),
    Type::Tuple(t) => format!(
      "tuple<{}>",
      t.types().map(|t| describe_type(&t)).collect::<Vec<_>>().join(", ")
    ),
    Type::Variant(_) => "a variant".into(),
    Type::Enum(_) => "an enum".into(),
    Type::Option(o) => format!("option<{}>", describe_type(&o.ty())),
    Type::Result(_) => "a result".into(),
    Type::Flags(_) => "flags".into(),
    Type::Own(_) => "an owned resource handle".into(),
    Type::Borrow(_) => "a borrowed resource handle".into(),
    Type::Future(_) => "a future".into(),
    Type::Stream(_) => "a stream".into(),
    Type::ErrorContext => "an error-context".into(),
  }
}

/// The first part of `ty` that cannot cross to or from JavaScript: resource handles, futures,
/// streams and error contexts.
pub fn unsupported(ty: &Type) -> Option<String> {
  let any = |types: Vec<Type>| types.iter().find_map(unsupported);
  match ty {
    Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => Some(describe_type(ty)),
    Type::List(l) => unsupported(&l.ty()),
    Type::FixedLengthList(l) => unsupported(&l.ty()),
    Type::Map(m) => unsupported(&m.key()).or_else(|| unsupported(&m.value())),
    Type::Option(o) => unsupported(&o.ty()),
    Type::Record(r) => any(r.fields().map(|f| f.ty).collect()),
    Type::Tuple(t) => any(t.types().collect()),
    Type::Variant(v) => any(v.cases().filter_map(|c| c.ty).collect()),
    Type::Result(r) => any(r.ok().into_iter().chain(r.err()).collect()),
    _ => None,
  }
}

/// A function export of a component: `name` at the top level, or `interface#name` inside an
/// exported interface.
pub fn component_func(
  component: &wasmtime::component::Component,
  engine: &wasmtime::Engine,
  name: &str,
) -> Option<ComponentFunc> {
  let ty = component.component_type();
  let item = match name.split_once('#') {
    Some((iface, func)) => match ty.get_export(engine, iface)?.ty {
      ComponentItem::ComponentInstance(instance) => instance.get_export(engine, func)?.ty,
      _ => return None,
    },
    None => ty.get_export(engine, name)?.ty,
  };
  match item {
    ComponentItem::ComponentFunc(f) => Some(f),
    _ => None,
  }
}

fn no_function(name: &str, functions: &[reflect::FunctionInfo]) -> ProbeError {
  let names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
  ProbeError::new(
    ErrorCode::NoExport,
    format!(
      "the guest has no function \"{name}\" to invoke; its functions: {}",
      if names.is_empty() {
        "none".to_string()
      } else {
        names.join(", ")
      }
    ),
  )
}

fn arity(name: &str, wanted: usize, info: Option<&reflect::FunctionInfo>, got: usize) -> ProbeError {
  let params: Vec<String> = info
    .map(|f| f.params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect())
    .unwrap_or_default();
  ProbeError::new(
    ErrorCode::InvalidArgValue,
    format!(
      "\"{name}\" takes {wanted} argument{} ({}), got {got}",
      if wanted == 1 { "" } else { "s" },
      params.join(", ")
    ),
  )
}

fn bad_value(name: &str, param: &str, m: lower::Mismatch) -> ProbeError {
  ProbeError::new(
    ErrorCode::InvalidArgValue,
    format!("invalid argument \"{param}\" of \"{name}\": {m}"),
  )
}

/// Checks `args` against the type of function `name` of `artifact` and converts them, before
/// anything runs. `functions` (the guest's reflection) names things in messages.
pub fn prepare_call(
  artifact: &Artifact,
  functions: &[reflect::FunctionInfo],
  name: &str,
  args: &[Value],
) -> Result<TypedArgs, ProbeError> {
  let info = functions.iter().find(|f| f.name == name);
  match &artifact.prepared {
    Prepared::Component(pre) => {
      let func = component_func(pre.component(), pre.engine(), name).ok_or_else(|| no_function(name, functions))?;
      let params: Vec<(String, Type)> = func.params().map(|(n, t)| (n.to_string(), t)).collect();
      let results: Vec<Type> = func.results().collect();
      // Named by their WIT types where the guest's WIT is known: `its result (counter)`.
      let wit = |ty: Option<&String>| ty.map(|t| format!(" ({t})")).unwrap_or_default();
      let roles = params
        .iter()
        .enumerate()
        .map(|(i, (n, t))| {
          let ty = info.and_then(|f| f.params.get(i)).map(|p| &p.ty);
          (format!("its parameter \"{n}\"{}", wit(ty)), t)
        })
        .chain(
          results
            .iter()
            .map(|t| (format!("its result{}", wit(info.and_then(|f| f.result.as_ref()))), t)),
        );
      for (role, ty) in roles {
        if let Some(what) = unsupported(ty) {
          return Err(ProbeError::new(
            ErrorCode::NoExport,
            format!(
              "\"{name}\" cannot be invoked from JavaScript: {role} holds {what}, and resources, futures and streams do not cross to JavaScript"
            ),
          ));
        }
      }
      if args.len() != params.len() {
        return Err(arity(name, params.len(), info, args.len()));
      }
      let mut out = Vec::with_capacity(args.len());
      for (i, (arg, (param, ty))) in args.iter().zip(&params).enumerate() {
        out.push(lower::lower(arg, ty, &format!("args[{i}]")).map_err(|m| bad_value(name, param, m))?);
      }
      Ok(TypedArgs::Component(out))
    }
    Prepared::Core(pre) => {
      let ty = match pre.module().get_export(name) {
        Some(wasmtime::ExternType::Func(ty)) => ty,
        _ => return Err(no_function(name, functions)),
      };
      let Some(info) = info else {
        return Err(ProbeError::new(
          ErrorCode::NoExport,
          format!(
            "\"{name}\" cannot be invoked from JavaScript: it has type {ty}, and only numbers (i32, i64, f32, f64) cross"
          ),
        ));
      };
      let params: Vec<wasmtime::ValType> = ty.params().collect();
      if args.len() != params.len() {
        return Err(arity(name, params.len(), Some(info), args.len()));
      }
      let mut out = Vec::with_capacity(args.len());
      for (i, (arg, ty)) in args.iter().zip(&params).enumerate() {
        let param = &info.params[i].name;
        out.push(lower::lower_core(arg, ty, &format!("args[{i}]")).map_err(|m| bad_value(name, param, m))?);
      }
      Ok(TypedArgs::Core(out))
    }
  }
}
