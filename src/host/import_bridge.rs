//! The way to the JavaScript functions that implement a guest's own imports
//! (`LoadOptions.imports`): the calls and answers that cross it, the bridge the addon provides,
//! and the scope an execution's calls are answered in (the import capability's context).

use crate::typed::value::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One call of a guest import, for JavaScript.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportCall {
  /// Whose functions answer: the execution's or the instance's scope.
  pub scope: u64,
  pub module: String,
  pub name: String,
  pub args: Vec<Value>,
}

/// What the JavaScript function did.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportAnswer {
  Returned(Value),
  Threw { message: String, payload: Option<Value> },
}

/// `Err` when the call cannot reach JavaScript at all.
pub type ImportFuture = Pin<Box<dyn Future<Output = Result<ImportAnswer, String>> + Send>>;

/// Whatever calls the JavaScript functions: in the addon, the runtime's import event function.
pub trait ImportBridge: Send + Sync {
  fn call(&self, call: ImportCall) -> ImportFuture;
}

/// Where an execution's imports are answered.
#[derive(Clone)]
pub struct ImportScope {
  pub bridge: Arc<dyn ImportBridge>,
  pub scope: u64,
}
