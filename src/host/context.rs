//! What every host function of an execution sees, whatever the guest's kind: its I/O, log book,
//! deadline and stop signal, its grants and the contexts of the capabilities that need one. The
//! store state in `exec` composes it with the WASI contexts and lends it through [`HasExec`];
//! host functions are added to a linker over any store data that does.

use crate::capabilities::Capabilities;
use crate::error::{ErrorCode, ProbeError};
use crate::host::http::HttpContext;
use crate::host::import_bridge::ImportScope;
use crate::host::log::Logs;
use crate::memory_limiter::MemoryLimiter;
use crate::stop::{StopReason, StopSignal};
use std::sync::Arc;
use std::time::Instant;

/// The JavaScript source a script module runs on the built-in engine, and the name its errors
/// and stack traces give it.
#[derive(Debug, Clone)]
pub struct ScriptText {
  pub source: Arc<str>,
  pub filename: Arc<str>,
  /// Set on the module `loadScript` runs once to evaluate the script and list its functions.
  pub listing: bool,
}

/// One call of a script: the script, and which of its exported functions runs.
#[derive(Debug, Clone)]
pub struct ScriptCall {
  pub text: Arc<ScriptText>,
  pub function: Arc<str>,
}

/// The part of a store's data every guest kind shares.
pub struct ExecState {
  pub limiter: MemoryLimiter,
  pub input: Arc<str>,
  pub output: Option<Vec<u8>>,
  pub failure: Option<Vec<u8>>,
  pub last_result: Vec<u8>,
  pub logs: Logs,
  pub host_calls: u64,
  pub deadline: Instant,
  pub stop: Arc<StopSignal>,
  /// Set when a host function had to fail the execution for a reason of its own.
  pub host_fault: Option<ProbeError>,
  pub capabilities: Arc<Capabilities>,
  pub http: HttpContext,
  /// `limits.openFiles`: WASI descriptors the guest may hold open at once.
  pub open_files: u64,
  /// Where the guest's JavaScript-implemented imports are answered.
  pub imports: Option<ImportScope>,
  /// The script the built-in JavaScript engine runs (`loadScript`) and the function it calls,
  /// read through `probe.script_*`.
  pub script: Option<ScriptCall>,
  /// A synchronous call (`executeProbeSync`): nothing may wait for JavaScript, whose thread
  /// this call holds.
  pub synchronous: bool,
}

impl ExecState {
  /// Fails the call when it is synchronous: `what` would have to wait for JavaScript. Returns
  /// the refusal (already recorded as the call's fault) for the host function to return.
  pub fn refuse_if_synchronous(&mut self, what: &str) -> Option<ProbeError> {
    if !self.synchronous {
      return None;
    }
    let refusal = ProbeError::new(
      ErrorCode::CapabilityDenied,
      format!("Capability not granted: {what} (not available in a synchronous call)"),
    );
    self.host_fault = Some(refusal.clone());
    Some(refusal)
  }

  /// The reason to stop the guest now, if any: an outside stop, or the deadline.
  pub fn stop_reason(&self) -> Option<StopReason> {
    self.stop.reason().or_else(|| {
      if Instant::now() >= self.deadline {
        self.stop.stop(StopReason::Timeout);
        Some(StopReason::Timeout)
      } else {
        None
      }
    })
  }
}

pub trait HasExec: Send + 'static {
  fn exec(&mut self) -> &mut ExecState;
}
