//! The Node side of JavaScript-implemented guest imports, by the HTTP bridge's mechanism: a call
//! goes to JavaScript as an event on one long-lived threadsafe function, `(id, scope, module,
//! name, args)`; JavaScript answers through a plain synchronous call, `importDone(id, ok, value,
//! message)`, that completes the waiting Rust future. No promise or threadsafe function is made
//! per call, and a call whose guest gave up (deadline, cancel) is simply forgotten.

use super::answers::Answers;
use super::value::JsValue;
use crate::host::import_bridge::{ImportAnswer, ImportBridge, ImportCall, ImportFuture};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

/// `(id, scope, module, name, args)`.
pub type Call = FnArgs<(f64, f64, String, String, Vec<JsValue>)>;
pub type ImportCalls = ThreadsafeFunction<Call, (), Call, Status, false, true>;

pub struct JsImports {
  calls: ImportCalls,
  answers: Answers<ImportAnswer>,
}

impl JsImports {
  pub fn new(calls: ImportCalls) -> JsImports {
    JsImports {
      calls,
      answers: Answers::default(),
    }
  }

  /// JavaScript's answer to call `id` (on the JS thread): the value it returned, or what it threw.
  pub fn done(&self, id: f64, answer: ImportAnswer) {
    self.answers.answer(id, answer);
  }
}

impl ImportBridge for JsImports {
  fn call(&self, call: ImportCall) -> ImportFuture {
    let waiting = self.answers.wait();
    let args = call.args.into_iter().map(JsValue).collect();
    let status = self.calls.call(
      (waiting.id as f64, call.scope as f64, call.module, call.name, args).into(),
      ThreadsafeFunctionCallMode::NonBlocking,
    );
    Box::pin(async move {
      if status != Status::Ok {
        return Err(format!("JavaScript cannot be reached ({status})"));
      }
      waiting
        .received()
        .await
        .ok_or_else(|| "the runtime's import handler went away".to_string())
    })
  }
}
