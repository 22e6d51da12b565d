//! A guest's own imports — beyond WASI and `probe:runtime` — served by JavaScript functions
//! (`LoadOptions.imports`). At link time every such function gets a stub; a call goes through
//! the runtime's [`ImportBridge`] (in the addon: one event function to JavaScript and a plain
//! answer call back, like guest HTTP) to the functions bound to the execution's scope. The guest
//! waits on its fiber while a Promise settles: no worker thread blocks, and the wait ends at the
//! execution's deadline.
//!
//! Failures: a JavaScript throw becomes the guest's `err` when the import returns a `result`
//! (the thrown `payload`, or the message for `result<_, string>`); otherwise, and for a value
//! that does not fit the WIT type, the call fails with `ERR_WASM_HOST` naming the import.

use crate::error::{ErrorCode, ProbeError};
use crate::host::context::{ExecState, HasExec};
use crate::host::import_bridge::{ImportAnswer, ImportCall};
use crate::stop::StopReason;
use crate::typed::lift::{lift, lift_core};
use crate::typed::lower::{lower, lower_core};
use crate::typed::reflect::{ROOT, numeric_signature, provided_by_runtime};
use crate::typed::value::Value;
use std::sync::Arc;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Type, Val};

fn host_failure(exec: &mut ExecState, message: String) -> wasmtime::Error {
  let err = ProbeError::new(ErrorCode::Host, message);
  exec.host_fault = Some(err.clone());
  wasmtime::Error::msg(err.message)
}

fn display(module: &str, name: &str) -> String {
  if module == ROOT {
    name.to_string()
  } else {
    format!("{module}#{name}")
  }
}

/// Sends one call to JavaScript and waits for its answer, at most until the deadline.
async fn ask(exec: &mut ExecState, module: &str, name: &str, args: Vec<Value>) -> wasmtime::Result<ImportAnswer> {
  exec.host_calls += 1;
  if let Some(refusal) = exec.refuse_if_synchronous(&format!("the JavaScript import {}", display(module, name))) {
    return Err(wasmtime::Error::msg(refusal.message));
  }
  let Some(scope) = exec.imports.clone() else {
    let message = format!(
      "no JavaScript function is bound to the import {}",
      display(module, name)
    );
    return Err(host_failure(exec, message));
  };
  let call = ImportCall {
    scope: scope.scope,
    module: module.to_string(),
    name: name.to_string(),
    args,
  };
  match tokio::time::timeout_at(exec.deadline.into(), scope.bridge.call(call)).await {
    Err(_) => {
      exec.stop.stop(StopReason::Timeout);
      Err(wasmtime::Error::msg(
        "the JavaScript import did not answer before the deadline",
      ))
    }
    Ok(Err(why)) => {
      let message = format!(
        "the JavaScript import {} could not be called: {why}",
        display(module, name)
      );
      Err(host_failure(exec, message))
    }
    Ok(Ok(answer)) => Ok(answer),
  }
}

/// Turns a component import's answer into its result, following jco: a returned value is the
/// `ok` of a `result`, a throw its `err`.
fn component_result(
  exec: &mut ExecState,
  what: &str,
  answer: ImportAnswer,
  ty: Option<&Type>,
) -> wasmtime::Result<Option<Val>> {
  let mismatch = |exec: &mut ExecState, m: crate::typed::lower::Mismatch| {
    host_failure(
      exec,
      format!("the JavaScript import {what} answered a value that does not fit its WIT type: {m}"),
    )
  };
  match (answer, ty) {
    (ImportAnswer::Returned(_), None) => Ok(None),
    (ImportAnswer::Returned(v), Some(Type::Result(r))) => match r.ok() {
      None => Ok(Some(Val::Result(Ok(None)))),
      Some(ok) => match lower(&v, &ok, "result") {
        Ok(val) => Ok(Some(Val::Result(Ok(Some(Box::new(val)))))),
        Err(m) => Err(mismatch(exec, m)),
      },
    },
    (ImportAnswer::Returned(v), Some(ty)) => lower(&v, ty, "result").map(Some).map_err(|m| mismatch(exec, m)),
    (ImportAnswer::Threw { message, payload }, Some(Type::Result(r))) => match (r.err(), payload) {
      (None, _) => Ok(Some(Val::Result(Err(None)))),
      (Some(err), Some(payload)) => match lower(&payload, &err, "payload") {
        Ok(val) => Ok(Some(Val::Result(Err(Some(Box::new(val)))))),
        Err(m) => Err(mismatch(exec, m)),
      },
      (Some(Type::String), None) => Ok(Some(Val::Result(Err(Some(Box::new(Val::String(message))))))),
      (Some(_), None) => Err(host_failure(
        exec,
        format!("the JavaScript import {what} threw ({message}) without a `payload` for its error type"),
      )),
    },
    (ImportAnswer::Threw { message, .. }, _) => Err(host_failure(
      exec,
      format!("the JavaScript import {what} threw: {message}"),
    )),
  }
}

/// Defines a stub for every function the component imports that the runtime does not provide.
pub fn define_component<T: HasExec>(
  linker: &mut wasmtime::component::Linker<T>,
  component: &wasmtime::component::Component,
  engine: &wasmtime::Engine,
) -> wasmtime::Result<()> {
  let ty = component.component_type();
  for (module, import) in ty.imports(engine) {
    match import.ty {
      ComponentItem::ComponentFunc(_) => linker.root().func_new_async(module, component_stub(ROOT, module))?,
      ComponentItem::ComponentInstance(instance) if !provided_by_runtime(module) => {
        let names: Vec<String> = instance
          .exports(engine)
          .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
          .map(|(n, _)| n.to_string())
          .collect();
        if names.is_empty() {
          continue;
        }
        let mut inst = linker.instance(module)?;
        for name in names {
          inst.func_new_async(&name, component_stub(module, &name))?;
        }
      }
      _ => {}
    }
  }
  Ok(())
}

type StubFuture<'a> = Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'a>;

fn component_stub<T: HasExec>(
  module: &str,
  name: &str,
) -> impl for<'a> Fn(wasmtime::StoreContextMut<'a, T>, ComponentFunc, &'a [Val], &'a mut [Val]) -> StubFuture<'a>
+ Send
+ Sync
+ 'static {
  let (module, name): (Arc<str>, Arc<str>) = (module.into(), name.into());
  move |mut store, ty, params, results| {
    let (module, name) = (module.clone(), name.clone());
    Box::new(async move {
      let args: Vec<Value> = params.iter().zip(ty.params()).map(|(v, (_, t))| lift(v, &t)).collect();
      let result_ty = ty.results().next();
      let exec = store.data_mut().exec();
      let answer = ask(exec, &module, &name, args).await?;
      let what = display(&module, &name);
      if let Some(val) = component_result(exec, &what, answer, result_ty.as_ref())?
        && let Some(slot) = results.first_mut()
      {
        *slot = val;
      }
      Ok(())
    })
  }
}

/// Defines a stub for every numeric function the core module imports from a module that is not
/// the runtime's.
pub fn define_core<T: HasExec>(linker: &mut wasmtime::Linker<T>, module: &wasmtime::Module) -> wasmtime::Result<()> {
  for import in module.imports() {
    let wasmtime::ExternType::Func(ty) = import.ty() else {
      continue;
    };
    // Imports of other shapes stay unresolved, and the link names them.
    if provided_by_runtime(import.module()) || !numeric_signature(&ty) {
      continue;
    }
    let (m, n): (Arc<str>, Arc<str>) = (import.module().into(), import.name().into());
    let results: Vec<wasmtime::ValType> = ty.results().collect();
    linker.func_new_async(
      import.module(),
      import.name(),
      ty.clone(),
      move |mut caller, params, out| {
        let (m, n, results) = (m.clone(), n.clone(), results.clone());
        Box::new(async move {
          let args = params.iter().map(lift_core).collect();
          let exec = caller.data_mut().exec();
          let what = format!("{m}.{n}");
          match ask(exec, &m, &n, args).await? {
            ImportAnswer::Threw { message, .. } => Err(host_failure(
              exec,
              format!("the JavaScript import {what} threw: {message}"),
            )),
            ImportAnswer::Returned(v) => {
              // Several results come back as an array, one as itself.
              let values = match (results.len(), v) {
                (0, _) => Vec::new(),
                (1, v) => vec![v],
                (_, Value::Array(items)) => items,
                (k, other) => {
                  let message =
                    format!("the JavaScript import {what} must return an array of {k} numbers, got {other}");
                  return Err(host_failure(exec, message));
                }
              };
              if values.len() != results.len() {
                let message = format!(
                  "the JavaScript import {what} returned {} values, expected {}",
                  values.len(),
                  results.len()
                );
                return Err(host_failure(exec, message));
              }
              for (i, (v, ty)) in values.iter().zip(&results).enumerate() {
                match lower_core(v, ty, &format!("result[{i}]")) {
                  Ok(val) => out[i] = val,
                  Err(m) => {
                    let message = format!("the JavaScript import {what} answered a value that does not fit: {m}");
                    return Err(host_failure(exec, message));
                  }
                }
              }
              Ok(())
            }
          }
        })
      },
    )?;
  }
  Ok(())
}
