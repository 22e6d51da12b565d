//! The Node side of JavaScript-implemented guest imports, by the HTTP bridge's mechanism: a call
//! goes to JavaScript as an event on one long-lived threadsafe function, `(id, scope, module,
//! name, args)`; JavaScript answers through a plain synchronous call, `importDone(id, ok, value,
//! message)`, that completes the waiting Rust future. No promise or threadsafe function is made
//! per call, and a call whose guest gave up (deadline, cancel) is simply forgotten.

use super::value::JsValue;
use crate::host::js_imports::{ImportAnswer, ImportBridge, ImportCall, ImportFuture};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// `(id, scope, module, name, args)`.
pub type Call = FnArgs<(f64, f64, String, String, Vec<JsValue>)>;
pub type ImportCalls = ThreadsafeFunction<Call, (), Call, Status, false, true>;

type Waiters = Mutex<HashMap<u64, oneshot::Sender<ImportAnswer>>>;

pub struct JsImports {
  calls: ImportCalls,
  waiters: Arc<Waiters>,
  next: AtomicU64,
}

/// Forgets a waiter whose future was dropped before JavaScript answered.
struct Waiting {
  id: u64,
  waiters: Arc<Waiters>,
}

impl Drop for Waiting {
  fn drop(&mut self) {
    self.waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
  }
}

impl JsImports {
  pub fn new(calls: ImportCalls) -> JsImports {
    JsImports {
      calls,
      waiters: Arc::default(),
      next: AtomicU64::new(1),
    }
  }

  /// JavaScript's answer to call `id` (on the JS thread): the value it returned, or what it threw.
  pub fn done(&self, id: f64, answer: ImportAnswer) {
    let waiter = self
      .waiters
      .lock()
      .unwrap_or_else(|p| p.into_inner())
      .remove(&(id as u64));
    if let Some(waiter) = waiter {
      let _ = waiter.send(answer);
    }
  }
}

impl ImportBridge for JsImports {
  fn call(&self, call: ImportCall) -> ImportFuture {
    let id = self.next.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = oneshot::channel();
    self.waiters.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
    let waiting = Waiting {
      id,
      waiters: self.waiters.clone(),
    };
    let args = call.args.into_iter().map(JsValue).collect();
    let status = self.calls.call(
      (id as f64, call.scope as f64, call.module, call.name, args).into(),
      ThreadsafeFunctionCallMode::NonBlocking,
    );
    Box::pin(async move {
      let _waiting = waiting;
      if status != Status::Ok {
        return Err(format!("JavaScript cannot be reached ({status})"));
      }
      rx.await
        .map_err(|_| "the runtime's import handler went away".to_string())
    })
  }
}
