//! Any JavaScript value to and from the core's [`Value`], for typed calls and JavaScript
//! imports. napi-rs converts fixed shapes; these values have the shape of a WIT type only known
//! at run time, so they are walked here by hand with the plain N-API calls.

use crate::typed::lower::MAX_DEPTH;
use crate::typed::value::Value;
use napi::bindgen_prelude::*;
use napi::sys;
use std::cell::{Cell, RefCell};
use std::ptr;

/// The most values (array items, object fields and the scalars in them) one JavaScript value
/// may hold, counting every repetition of a shared part: a value is copied whole, so a small
/// graph that repeats one object (`x = [x, x]` thirty times) would otherwise cost 2^30 copies.
pub const MAX_ITEMS: usize = 1_000_000;
/// The most bytes of strings and byte arrays one value may hold, repetitions counted.
pub const MAX_BYTES: usize = 256 << 20;

/// A JavaScript value as the core sees it (`unknown` in TypeScript).
pub struct JsValue(pub Value);

fn check(status: sys::napi_status, what: &str) -> Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(Error::new(
      Status::GenericFailure,
      format!("reading a JavaScript value failed: {what}"),
    ))
  }
}

fn refused(why: String) -> Error {
  Error::new(Status::InvalidArg, why)
}

struct Reader {
  env: sys::napi_env,
  /// `Object.prototype`, to tell plain objects from class instances (a `Map`, a `Date`, ...).
  object_prototype: sys::napi_value,
  /// Items and bytes still allowed ([`MAX_ITEMS`], [`MAX_BYTES`]).
  items_left: Cell<usize>,
  bytes_left: Cell<usize>,
  /// The arrays and objects being read, outermost first: one met again is a cycle.
  open: RefCell<Vec<sys::napi_value>>,
  /// Once a cycle is found: the path to it, innermost step first, gathered on the way out.
  cycle: RefCell<Option<Vec<String>>>,
}

impl Reader {
  unsafe fn new(env: sys::napi_env) -> Result<Reader> {
    let mut probe = ptr::null_mut();
    let mut object_prototype = ptr::null_mut();
    // SAFETY: `env` is the live env of this call.
    unsafe {
      check(sys::napi_create_object(env, &mut probe), "creating an object")?;
      check(
        sys::napi_get_prototype(env, probe, &mut object_prototype),
        "reading a prototype",
      )?;
    }
    Ok(Reader {
      env,
      object_prototype,
      items_left: Cell::new(MAX_ITEMS),
      bytes_left: Cell::new(MAX_BYTES),
      open: RefCell::new(Vec::new()),
      cycle: RefCell::new(None),
    })
  }

  /// On the way out of a failed read: adds `step` to the path of a cycle being reported.
  fn step_out(&self, step: impl FnOnce() -> String, e: Error) -> Error {
    if let Some(path) = self.cycle.borrow_mut().as_mut() {
      path.push(step());
    }
    e
  }

  /// Reads the whole value `v`, named `root` in what a refusal says.
  unsafe fn read_root(&self, v: sys::napi_value, root: &str) -> Result<Value> {
    // SAFETY: as the caller promised.
    let read = unsafe { self.read(v, 0) };
    read.map_err(|e| match self.cycle.borrow_mut().take() {
      Some(path) => {
        let path: String = path.into_iter().rev().collect();
        refused(format!(
          "{root}{path} is a value it is part of (a cycle); such a value cannot be copied"
        ))
      }
      // A refusal of this reader's names the value; anything else (a getter that threw) as is.
      None if e.status == Status::InvalidArg => refused(format!("{root} {}", e.reason)),
      None => e,
    })
  }

  /// Takes `n` items from the budget, or refuses the value before anything is allocated.
  fn take_items(&self, n: usize) -> Result<()> {
    let left = self.items_left.get();
    if n > left {
      return Err(refused(format!(
        "holds more than {MAX_ITEMS} items (arrays, fields and repetitions of shared parts counted)"
      )));
    }
    self.items_left.set(left - n);
    Ok(())
  }

  fn take_bytes(&self, n: usize) -> Result<()> {
    let left = self.bytes_left.get();
    if n > left {
      return Err(refused(format!(
        "holds more than {} MiB of strings and bytes (repetitions of shared parts counted)",
        MAX_BYTES >> 20
      )));
    }
    self.bytes_left.set(left - n);
    Ok(())
  }

  /// Refuses `v` when it is one of the arrays or objects it is nested in.
  unsafe fn enter(&self, v: sys::napi_value) -> Result<()> {
    for &outer in self.open.borrow().iter() {
      let mut same = false;
      // SAFETY: both are live values of `env`.
      unsafe {
        check(
          sys::napi_strict_equals(self.env, outer, v, &mut same),
          "comparing values",
        )?
      };
      if same {
        *self.cycle.borrow_mut() = Some(Vec::new());
        return Err(refused("a cycle".into()));
      }
    }
    self.open.borrow_mut().push(v);
    Ok(())
  }

  unsafe fn read(&self, v: sys::napi_value, depth: usize) -> Result<Value> {
    let env = self.env;
    let mut ty = 0;
    self.take_items(1)?;
    // SAFETY: `v` is a live value of `env`; every call below gets out-pointers it may write.
    unsafe {
      check(sys::napi_typeof(env, v, &mut ty), "typeof")?;
      Ok(match ty {
        sys::ValueType::napi_undefined => Value::Undefined,
        sys::ValueType::napi_null => Value::Null,
        sys::ValueType::napi_boolean => Value::Bool(bool::from_napi_value(env, v)?),
        sys::ValueType::napi_number => Value::Number(f64::from_napi_value(env, v)?),
        sys::ValueType::napi_string => {
          let mut len = 0;
          check(
            sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len),
            "string length",
          )?;
          self.take_bytes(len)?;
          Value::String(String::from_napi_value(env, v)?)
        }
        sys::ValueType::napi_bigint => {
          let (n, lossless) = BigInt::from_napi_value(env, v)?.get_i128();
          Value::BigInt(lossless.then_some(n))
        }
        sys::ValueType::napi_object => {
          self.enter(v)?;
          let read = self.object(v, depth);
          self.open.borrow_mut().pop();
          read?
        }
        sys::ValueType::napi_function => Value::Other("a function".into()),
        sys::ValueType::napi_symbol => Value::Other("a symbol".into()),
        _ => Value::Other("an external value".into()),
      })
    }
  }

  unsafe fn object(&self, v: sys::napi_value, depth: usize) -> Result<Value> {
    let env = self.env;
    if depth >= MAX_DEPTH {
      return Ok(Value::Other(format!("a value nested deeper than {MAX_DEPTH} levels")));
    }
    // SAFETY: as in `read`.
    unsafe {
      let mut is = false;
      check(sys::napi_is_array(env, v, &mut is), "isArray")?;
      if is {
        let mut len = 0;
        check(sys::napi_get_array_length(env, v, &mut len), "array length")?;
        // Checked before the vector is sized from it: `new Array(2 ** 32 - 1)` is all holes.
        if len as usize > self.items_left.get() {
          self.take_items(len as usize)?;
        }
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
          let mut item = ptr::null_mut();
          check(sys::napi_get_element(env, v, i, &mut item), "array element")?;
          let item = self
            .read(item, depth + 1)
            .map_err(|e| self.step_out(|| format!("[{i}]"), e))?;
          items.push(item);
        }
        return Ok(Value::Array(items));
      }
      check(sys::napi_is_typedarray(env, v, &mut is), "isTypedArray")?;
      if is {
        let (mut kind, mut len, mut data) = (0, 0, ptr::null_mut());
        let (mut buffer, mut offset) = (ptr::null_mut(), 0);
        check(
          sys::napi_get_typedarray_info(env, v, &mut kind, &mut len, &mut data, &mut buffer, &mut offset),
          "typed array",
        )?;
        if kind != sys::TypedarrayType::uint8_array {
          return Ok(Value::Other("a typed array other than Uint8Array".into()));
        }
        self.take_bytes(len)?;
        let bytes = if len == 0 || data.is_null() {
          Vec::new()
        } else {
          std::slice::from_raw_parts(data as *const u8, len).to_vec()
        };
        return Ok(Value::Bytes(bytes));
      }
      let mut proto = ptr::null_mut();
      check(sys::napi_get_prototype(env, v, &mut proto), "prototype")?;
      let mut plain = false;
      check(
        sys::napi_strict_equals(env, proto, self.object_prototype, &mut plain),
        "prototype",
      )?;
      if !plain {
        // `Object.create(null)` objects are plain too.
        let mut proto_type = 0;
        check(sys::napi_typeof(env, proto, &mut proto_type), "typeof")?;
        plain = proto_type == sys::ValueType::napi_null;
      }
      if !plain {
        return Ok(Value::Other(
          "an object that is not a plain object (a class instance, a Map, ...)".into(),
        ));
      }
      let mut keys = ptr::null_mut();
      check(
        sys::napi_get_all_property_names(
          env,
          v,
          sys::KeyCollectionMode::own_only,
          sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
          sys::KeyConversion::numbers_to_strings,
          &mut keys,
        ),
        "property names",
      )?;
      let mut len = 0;
      check(sys::napi_get_array_length(env, keys, &mut len), "property names")?;
      if len as usize > self.items_left.get() {
        self.take_items(len as usize)?;
      }
      let mut fields = Vec::with_capacity(len as usize);
      for i in 0..len {
        let mut key = ptr::null_mut();
        check(sys::napi_get_element(env, keys, i, &mut key), "property name")?;
        let mut item = ptr::null_mut();
        check(sys::napi_get_property(env, v, key, &mut item), "property")?;
        let key = String::from_napi_value(env, key)?;
        let item = self
          .read(item, depth + 1)
          .map_err(|e| self.step_out(|| format!(".{key}"), e))?;
        fields.push((key, item));
      }
      Ok(Value::Object(fields))
    }
  }
}

unsafe fn write(env: sys::napi_env, value: Value) -> Result<sys::napi_value> {
  let mut out = ptr::null_mut();
  // SAFETY: `env` is the live env of this call; every call writes to its out-pointer.
  unsafe {
    match value {
      Value::Undefined | Value::Other(_) | Value::BigInt(None) => {
        check(sys::napi_get_undefined(env, &mut out), "undefined")?
      }
      Value::Null => check(sys::napi_get_null(env, &mut out), "null")?,
      Value::Bool(b) => return bool::to_napi_value(env, b),
      Value::Number(n) => return f64::to_napi_value(env, n),
      Value::BigInt(Some(n)) => return BigInt::to_napi_value(env, BigInt::from(n)),
      Value::String(s) => return String::to_napi_value(env, s),
      Value::Bytes(b) => return Uint8Array::to_napi_value(env, Uint8Array::new(b)),
      Value::Array(items) => {
        check(sys::napi_create_array_with_length(env, items.len(), &mut out), "array")?;
        for (i, item) in items.into_iter().enumerate() {
          let item = write(env, item)?;
          check(sys::napi_set_element(env, out, i as u32, item), "array element")?;
        }
      }
      Value::Object(fields) => {
        check(sys::napi_create_object(env, &mut out), "object")?;
        for (key, item) in fields {
          let key = String::to_napi_value(env, key)?;
          let item = write(env, item)?;
          check(sys::napi_set_property(env, out, key, item), "property")?;
        }
      }
    }
  }
  Ok(out)
}

impl TypeName for JsValue {
  fn type_name() -> &'static str {
    "unknown"
  }

  fn value_type() -> ValueType {
    ValueType::Unknown
  }
}

impl ValidateNapiValue for JsValue {
  unsafe fn validate(_env: sys::napi_env, _napi_val: sys::napi_value) -> Result<sys::napi_value> {
    Ok(ptr::null_mut())
  }
}

impl FromNapiValue for JsValue {
  unsafe fn from_napi_value(env: sys::napi_env, napi_val: sys::napi_value) -> Result<Self> {
    // SAFETY: napi-rs passes the live env and value of the call.
    unsafe { Ok(JsValue(Reader::new(env)?.read_root(napi_val, "the value")?)) }
  }
}

impl ToNapiValue for JsValue {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    // SAFETY: napi-rs passes the live env of the call.
    unsafe { write(env, val.0) }
  }
}

/// The arguments of a typed call: one JavaScript array read as [`JsValue`]s are, within one
/// budget (napi-rs's own `Vec` would size itself from the array's `length` first).
pub struct JsArgs(pub Vec<Value>);

impl TypeName for JsArgs {
  fn type_name() -> &'static str {
    "unknown[]"
  }

  fn value_type() -> ValueType {
    ValueType::Object
  }
}

impl ValidateNapiValue for JsArgs {}

impl FromNapiValue for JsArgs {
  unsafe fn from_napi_value(env: sys::napi_env, napi_val: sys::napi_value) -> Result<Self> {
    // SAFETY: napi-rs passes the live env and value of the call.
    match unsafe { Reader::new(env)?.read_root(napi_val, "args")? } {
      Value::Array(items) => Ok(JsArgs(items)),
      _ => Err(refused("args must be an array".into())),
    }
  }
}
