//! The napi side of long-lived instances: `NativeRuntime.instantiate` and `NativeInstance`.

use super::convert::{
  NativeCapabilities, NativeError, NativeGuestEvent, NativeLimits, NativeLogRecord, NativeOutcome, cross, figures_of,
};
use super::value::JsArgs;
use super::{CancelHandle, Completions, WasmModule, panic_error};
use crate::host::log::{GuestEvent, LiveEvents, LiveLogs, LogRecord};
use crate::instance::{RestartPolicy, RestartPolicyPatch, StateChange, StateListener};
use crate::runtime::{CallOptions, ExecOptions, LongLived, Runtime, Start};
use crate::stop::StopSignal;
use futures::FutureExt;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

#[napi(object)]
#[derive(Default)]
pub struct NativeRestartPolicy {
  pub max_failures: Option<f64>,
  pub window_ms: Option<f64>,
  pub backoff_ms: Option<f64>,
  pub max_backoff_ms: Option<f64>,
  pub max_timeouts: Option<f64>,
}

impl From<NativeRestartPolicy> for RestartPolicyPatch {
  fn from(r: NativeRestartPolicy) -> Self {
    RestartPolicyPatch {
      max_failures: r.max_failures,
      window_ms: r.window_ms,
      backoff_ms: r.backoff_ms,
      max_backoff_ms: r.max_backoff_ms,
      max_timeouts: r.max_timeouts,
    }
  }
}

#[napi(object)]
#[derive(Default)]
pub struct NativeInstanceOptions {
  pub limits: Option<NativeLimits>,
  pub capabilities: Option<NativeCapabilities>,
  pub activation_timeout_ms: Option<f64>,
  pub restart: Option<NativeRestartPolicy>,
}

/// A state transition of an instance, for its `onStateChange`.
#[napi(object, object_from_js = false)]
pub struct NativeStateChange {
  pub state: String,
  pub previous: String,
  pub reason: String,
  pub code: Option<String>,
}

impl From<&StateChange> for NativeStateChange {
  fn from(c: &StateChange) -> Self {
    NativeStateChange {
      state: c.state.as_str().to_string(),
      previous: c.previous.as_str().to_string(),
      reason: c.reason.clone(),
      code: c.code.map(|c| c.as_str().to_string()),
    }
  }
}

/// The result of `instantiate`: the instance, or why there is none.
#[napi(object, object_from_js = false)]
pub struct NativeInstantiate {
  pub instance: Option<NativeInstance>,
  pub error: Option<NativeError>,
}

/// Sends a log record of execution `id` to JavaScript, live.
pub fn live_logs(events: &Arc<Completions>, id: f64) -> LiveLogs {
  let events = events.clone();
  Arc::new(move |record: &LogRecord| {
    let record = NativeLogRecord::from(record.clone());
    events.call(
      (id, None, Some(record), None, None).into(),
      ThreadsafeFunctionCallMode::NonBlocking,
    );
  })
}

/// Sends an event the guest of execution `id` emitted to JavaScript, live (through the same
/// queue as its logs, so in order with them).
pub fn live_events(events: &Arc<Completions>, id: f64) -> LiveEvents {
  let events = events.clone();
  Arc::new(move |event: &GuestEvent| {
    events.call(
      (id, None, None, None, Some(NativeGuestEvent::from(event))).into(),
      ThreadsafeFunctionCallMode::NonBlocking,
    );
  })
}

/// Where an execution or call from JavaScript starts: on this thread only when the caller allows
/// it (`here`); its outcome is returned unless live listeners get records, as those go through
/// `completions`, in order, and the outcome must follow them there.
pub fn start_where(here: bool, live: bool) -> Start {
  match (here, live) {
    (false, _) => Start::Pool,
    (true, false) => Start::HereReturned,
    (true, true) => Start::HereDelivered,
  }
}

/// Sends an execution's outcome to JavaScript.
pub fn deliver(events: &Arc<Completions>, id: f64) -> impl FnOnce(NativeOutcome) + Send + 'static {
  let events = events.clone();
  move |outcome| {
    events.call(
      (id, Some(outcome), None, None, None).into(),
      ThreadsafeFunctionCallMode::NonBlocking,
    );
  }
}

pub fn instantiate<'env>(
  env: &'env Env,
  core: &Arc<Runtime>,
  events: &Arc<Completions>,
  id: f64,
  module: &WasmModule,
  options: Option<NativeInstanceOptions>,
  stop: Option<Arc<StopSignal>>,
) -> Result<PromiseRaw<'env, NativeInstantiate>> {
  let options = options.unwrap_or_default();
  let patch: RestartPolicyPatch = options.restart.unwrap_or_default().into();
  let listener: StateListener = {
    let events = events.clone();
    Arc::new(move |change: &StateChange| {
      events.call(
        (id, None, None, Some(NativeStateChange::from(change)), None).into(),
        ThreadsafeFunctionCallMode::NonBlocking,
      );
    })
  };
  let request = ExecOptions {
    export: None,
    limits: options.limits.map(Into::into).unwrap_or_default(),
    capabilities: options.capabilities.map(Into::into).unwrap_or_default(),
    stop,
    live_logs: None,
    live_events: None,
    args: None,
    // The instance's imports are answered by the JavaScript functions of scope `id`.
    import_scope: Some(id as u64),
    synchronous: false,
  };
  let core = core.clone();
  let events = events.clone();
  let module = module.inner.clone();
  let activation = options.activation_timeout_ms;
  env.spawn_future(async move {
    let started = async {
      let policy = RestartPolicy::from_patch(&patch)?;
      core
        .instantiate(module, request, activation, policy, Some(listener))
        .await
    };
    let started = AssertUnwindSafe(started)
      .catch_unwind()
      .await
      .unwrap_or_else(|_| Err(panic_error("instantiating")));
    Ok(match started {
      Ok(inner) => NativeInstantiate {
        instance: Some(NativeInstance {
          core,
          inner: Arc::new(inner),
          events,
        }),
        error: None,
      },
      Err(e) => NativeInstantiate {
        instance: None,
        error: Some(e.into()),
      },
    })
  })
}

/// A long-lived instance behind the JavaScript `WasmInstance`.
#[napi]
pub struct NativeInstance {
  core: Arc<Runtime>,
  inner: Arc<LongLived>,
  events: Arc<Completions>,
}

#[napi]
impl NativeInstance {
  #[napi(getter, ts_return_type = "'ready' | 'busy' | 'restarting' | 'disabled' | 'disposed'")]
  pub fn state(&self) -> &'static str {
    self.inner.handle.state().as_str()
  }

  /// Starts a call; its outcome (and live log records and events) go to the runtime's event
  /// function with `id` — or, when it finished on this thread and has no live listeners, it is
  /// returned. With `args`, the export is invoked with those values instead of `input`.
  #[napi(catch_unwind)]
  #[allow(clippy::too_many_arguments, reason = "one flat call per call, from index.js only")]
  pub fn call(
    &self,
    id: f64,
    export_name: String,
    input: String,
    timeout_ms: Option<f64>,
    cancel: Option<&CancelHandle>,
    live: bool,
    live_event: bool,
    #[napi(ts_arg_type = "unknown[] | undefined | null")] args: Option<JsArgs>,
    here: bool,
    mut figures: Float64ArraySlice<'_>,
  ) -> Option<Either<String, NativeOutcome>> {
    let options = CallOptions {
      timeout_ms,
      stop: cancel.map(|c| c.signal.clone()),
      live_logs: live.then(|| live_logs(&self.events, id)),
      live_events: live_event.then(|| live_events(&self.events, id)),
      args: args.map(|a| a.0),
      synchronous: false,
    };
    let deliver = deliver(&self.events, id);
    let start = start_where(here, live || live_event);
    self
      .core
      .call(&self.inner, export_name, input, options, start, move |outcome| {
        deliver(outcome.into())
      })
      .map(|outcome| cross(outcome, figures_of(&mut figures)))
  }

  /// Calls `export_name` and waits for its outcome on this thread, at most `timeout_ms` and a
  /// grace (`callSync`).
  #[napi(catch_unwind)]
  pub fn call_sync(
    &self,
    export_name: String,
    input: String,
    timeout_ms: f64,
    mut figures: Float64ArraySlice<'_>,
  ) -> Either<String, NativeOutcome> {
    let outcome = self.core.call_blocking(&self.inner, export_name, input, timeout_ms);
    cross(outcome, figures_of(&mut figures))
  }

  /// Lifts a disable; the next call starts the instance fresh.
  #[napi(catch_unwind)]
  pub fn enable(&self) {
    self.inner.handle.enable();
  }

  #[napi(catch_unwind, ts_return_type = "Promise<void>")]
  pub fn dispose<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
    let inner = self.inner.clone();
    env.spawn_future(async move {
      let _ = AssertUnwindSafe(inner.handle.dispose()).catch_unwind().await;
      Ok(())
    })
  }
}
