//! One execution: a fresh store from the module's `InstancePre`, limits, deadline and stop
//! signal wired in, the export called with `call_async` on the Tokio pool, and the outcome.

pub mod outcome;
pub mod state;

use crate::capabilities::Capabilities;
use crate::engine::{StackClass, TICK, engines};
use crate::error::{ErrorCode, ProbeError};
use crate::host::http::{HttpContext, HttpTransport};
use crate::host::log::{LiveLogs, LogRecord, Logs};
use crate::limits::Limits;
use crate::module::{CorePre, LoadedModule, Prepared};
use outcome::{GuestAnswer, classify, stop_error, validate_output};
use state::{ComponentState, CoreState, ExecState, HasExec, MemoryLimiter, StopSignal, wasi_builder};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use wasmtime::component::InstancePre as ComponentPre;
use wasmtime::{ExternType, Store, UpdateDeadline, ValType};

/// Counts an execution as queued from when it is submitted until it gets a store slot (or is
/// dropped before that).
pub struct QueuedGuard(Arc<AtomicUsize>);

impl QueuedGuard {
  pub fn new(counter: Arc<AtomicUsize>) -> QueuedGuard {
    counter.fetch_add(1, Ordering::Relaxed);
    QueuedGuard(counter)
  }
}

impl Drop for QueuedGuard {
  fn drop(&mut self) {
    self.0.fetch_sub(1, Ordering::Relaxed);
  }
}

/// Everything one execution needs, decided and validated before it starts.
pub struct ExecRequest {
  pub export: String,
  pub input: Arc<str>,
  pub limits: Limits,
  pub capabilities: Arc<Capabilities>,
  pub stop: Arc<StopSignal>,
  /// Performs granted HTTP requests (the runtime's Node-side handler).
  pub transport: Option<Arc<dyn HttpTransport>>,
  pub live_logs: Option<LiveLogs>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
  pub instantiate_us: f64,
  pub run_us: f64,
  pub fuel_consumed: Option<u64>,
  pub memory_peak_bytes: u64,
  pub host_calls: u64,
}

pub struct ExecOutcome {
  pub result: Result<GuestAnswer, ProbeError>,
  pub latency_ms: f64,
  pub metrics: Metrics,
  pub logs: Vec<LogRecord>,
}

/// The most fuel a store can hold; "no fuel limit" runs with this much.
const UNLIMITED_FUEL: u64 = i64::MAX as u64;

/// How long after its deadline (or stop) an execution blocked in a host call is abandoned. A
/// computing guest is interrupted by the epoch callback within a tick, with full metrics; this
/// backstop catches guests that wait in the host, where epochs do not reach.
const BACKSTOP_GRACE: std::time::Duration = TICK.saturating_mul(3);

/// Runs one execution to its outcome; never panics, never outlives its deadline by more than
/// [`BACKSTOP_GRACE`].
pub async fn execute(
  module: Arc<LoadedModule>,
  req: ExecRequest,
  started: Instant,
  queued: QueuedGuard,
) -> ExecOutcome {
  let logs = Logs::new(req.live_logs.clone());
  let mut metrics = Metrics::default();
  let deadline = started + req.limits.timeout;
  let stop = req.stop.clone();
  let limits = req.limits;
  let result = {
    let work = run(&module, &req, deadline, &logs, &mut metrics, queued);
    let backstop = tokio::time::sleep_until((deadline + BACKSTOP_GRACE).into());
    let stopped = async {
      let reason = stop.stopped().await;
      tokio::time::sleep(BACKSTOP_GRACE).await;
      reason
    };
    tokio::select! {
      r = work => r,
      () = backstop => {
        stop.stop(state::StopReason::Timeout);
        Err(stop_error(stop.reason().unwrap_or(state::StopReason::Timeout), &limits))
      }
      reason = stopped => Err(stop_error(reason, &limits)),
    }
  };
  ExecOutcome {
    result,
    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    metrics,
    logs: logs.book().finish(),
  }
}

async fn run(
  module: &Arc<LoadedModule>,
  req: &ExecRequest,
  deadline: Instant,
  logs: &Logs,
  metrics: &mut Metrics,
  queued: QueuedGuard,
) -> Result<GuestAnswer, ProbeError> {
  let permit = engines().store_permits.clone().acquire_owned().await;
  drop(queued);
  let _permit = permit.map_err(|_| ProbeError::closed())?;

  let class = StackClass::for_bytes(req.limits.stack_bytes);
  let artifact = if module.has_artifact(class) {
    module.artifact(class)?
  } else {
    let module = module.clone();
    tokio::task::spawn_blocking(move || module.artifact(class))
      .await
      .map_err(|e| ProbeError::new(ErrorCode::Host, format!("preparing the guest failed: {e}")))??
  };
  let _ticking = engines().ticker.activate();
  let exec = ExecState {
    limiter: MemoryLimiter::new(req.limits.memory_bytes, req.limits.table_elements),
    input: req.input.clone(),
    output: None,
    failure: None,
    last_result: Vec::new(),
    logs: logs.clone(),
    host_calls: 0,
    deadline,
    stop: req.stop.clone(),
    host_fault: None,
    capabilities: req.capabilities.clone(),
    http: HttpContext {
      grant: req.capabilities.http.clone(),
      transport: req.transport.clone(),
      deadline,
    },
  };
  let answer = match &artifact.prepared {
    Prepared::Core(pre) => run_core(pre, exec, req, metrics).await,
    Prepared::Component(pre) => run_component(pre, exec, req, metrics).await,
  }?;
  // An answer that arrives after the deadline does not count: the guest may have been cut off
  // in a host call (its request answered `timeout` because the budget ran out) and finished
  // between two epoch ticks.
  if Instant::now() >= deadline {
    req.stop.stop(state::StopReason::Timeout);
    return Err(stop_error(state::StopReason::Timeout, &req.limits));
  }
  Ok(answer)
}

fn configure<T: HasExec>(store: &mut Store<T>, limits: &Limits) -> Result<(), ProbeError> {
  store.limiter(|s| &mut s.exec().limiter);
  store
    .set_fuel(limits.fuel.unwrap_or(UNLIMITED_FUEL))
    .map_err(|e| ProbeError::new(ErrorCode::Host, format!("cannot set fuel: {e}")))?;
  store.set_epoch_deadline(1);
  store.epoch_deadline_callback(|mut ctx| {
    if ctx.data_mut().exec().stop_reason().is_some() {
      Ok(UpdateDeadline::Interrupt)
    } else {
      // tokio's own yield puts the task at the back of the run queue, so a computing guest
      // shares its worker fairly with everything else queued there.
      Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
    }
  });
  Ok(())
}

fn record<T: HasExec>(store: &mut Store<T>, limits: &Limits, metrics: &mut Metrics) {
  let remaining = store.get_fuel().unwrap_or(0);
  let budget = limits.fuel.unwrap_or(UNLIMITED_FUEL);
  metrics.fuel_consumed = Some(budget.saturating_sub(remaining));
  let exec = store.data_mut().exec();
  metrics.memory_peak_bytes = exec.limiter.peak;
  metrics.host_calls = exec.host_calls;
}

fn micros(since: Instant) -> f64 {
  since.elapsed().as_secs_f64() * 1e6
}

/// The signature check of the contract: `() -> i32` or `() -> ()`.
fn check_core_export(module: &wasmtime::Module, name: &str) -> Result<bool, ProbeError> {
  let functions = || {
    let names: Vec<String> = module
      .exports()
      .filter(|e| matches!(e.ty(), ExternType::Func(_)))
      .map(|e| e.name().to_string())
      .collect();
    if names.is_empty() {
      "none".to_string()
    } else {
      names.join(", ")
    }
  };
  match module.get_export(name) {
    Some(ExternType::Func(ty)) => {
      let results: Vec<ValType> = ty.results().collect();
      let returns_i32 = match results.as_slice() {
        [] => false,
        [ValType::I32] => true,
        _ => {
          return Err(ProbeError::new(
            ErrorCode::NoExport,
            format!("export \"{name}\" has type {ty}, but a probe export must be () -> i32 or () -> ()"),
          ));
        }
      };
      if ty.params().len() != 0 {
        return Err(ProbeError::new(
          ErrorCode::NoExport,
          format!("export \"{name}\" has type {ty}, but a probe export must be () -> i32 or () -> ()"),
        ));
      }
      Ok(returns_i32)
    }
    Some(other) => Err(ProbeError::new(
      ErrorCode::NoExport,
      format!(
        "export \"{name}\" is a {other:?}, not a function; exported functions: {}",
        functions()
      ),
    )),
    None => Err(ProbeError::new(
      ErrorCode::NoExport,
      format!(
        "the module has no export \"{name}\"; exported functions: {}",
        functions()
      ),
    )),
  }
}

async fn run_core(
  pre: &CorePre,
  exec: ExecState,
  req: &ExecRequest,
  metrics: &mut Metrics,
) -> Result<GuestAnswer, ProbeError> {
  let returns_i32 = check_core_export(pre.module(), &req.export)?;
  let pre = pre.for_grant(req.capabilities.preopens.is_some());
  let wasi = wasi_builder(&exec)?.build_p1();
  let mut store = Store::new(pre.module().engine(), CoreState { exec, wasi });
  configure(&mut store, &req.limits)?;

  let t0 = Instant::now();
  let started = async {
    let instance = pre.instantiate_async(&mut store).await?;
    if let Some(init) = instance.get_func(&mut store, "_initialize") {
      let init = init.typed::<(), ()>(&store)?;
      init.call_async(&mut store, ()).await?;
    }
    wasmtime::Result::Ok(instance)
  }
  .await;
  metrics.instantiate_us = micros(t0);
  let instance = match started {
    Ok(instance) => instance,
    Err(e) => {
      record(&mut store, &req.limits, metrics);
      return Err(classify(e, store.data_mut().exec(), &req.limits));
    }
  };

  let t1 = Instant::now();
  let called = match instance.get_func(&mut store, &req.export) {
    Some(func) if returns_i32 => match func.typed::<(), i32>(&store) {
      Ok(f) => f.call_async(&mut store, ()).await.map(Some),
      Err(e) => Err(e),
    },
    Some(func) => match func.typed::<(), ()>(&store) {
      Ok(f) => f.call_async(&mut store, ()).await.map(|()| None),
      Err(e) => Err(e),
    },
    None => Err(wasmtime::Error::msg("export vanished")),
  };
  metrics.run_us = micros(t1);
  record(&mut store, &req.limits, metrics);
  let exec = store.data_mut().exec();
  let status = match called {
    Ok(status) => status,
    Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
      // WASI `proc_exit`: 0 is a normal end, anything else a failure the guest reported.
      Some(exit) => Some(exit.0),
      None => return Err(classify(e, exec, &req.limits)),
    },
  };
  if let Some(message) = exec.failure.take() {
    return Ok(GuestAnswer::Failure(String::from_utf8_lossy(&message).into_owned()));
  }
  match status {
    Some(code) if code != 0 => Ok(GuestAnswer::Failure(format!(
      "the guest's \"{}\" returned {code} without an error message",
      req.export
    ))),
    _ => Ok(GuestAnswer::Success(
      exec.output.take().map(validate_output).transpose()?,
    )),
  }
}

async fn run_component(
  pre: &ComponentPre<ComponentState>,
  exec: ExecState,
  req: &ExecRequest,
  metrics: &mut Metrics,
) -> Result<GuestAnswer, ProbeError> {
  let component = pre.component();
  let Some(index) = component.get_export_index(None, &req.export) else {
    let names: Vec<String> = component
      .component_type()
      .exports(pre.engine())
      .map(|(n, _)| n.to_string())
      .collect();
    return Err(ProbeError::new(
      ErrorCode::NoExport,
      format!(
        "the component has no export \"{}\"; its exports: {}",
        req.export,
        names.join(", ")
      ),
    ));
  };
  let wasi = wasi_builder(&exec)?.build();
  let http = exec.http.clone();
  let state = ComponentState {
    exec,
    wasi,
    table: wasmtime::component::ResourceTable::new(),
    http: wasmtime_wasi_http::WasiHttpCtx::new(),
    http_hooks: crate::host::wasi_http::MediatedHttp(http),
  };
  let mut store = Store::new(pre.engine(), state);
  configure(&mut store, &req.limits)?;

  let t0 = Instant::now();
  let instantiated = pre.instantiate_async(&mut store).await;
  metrics.instantiate_us = micros(t0);
  let instance = match instantiated {
    Ok(i) => i,
    Err(e) => {
      record(&mut store, &req.limits, metrics);
      return Err(classify(e, store.data_mut().exec(), &req.limits));
    }
  };
  let func = instance
    .get_typed_func::<(&str,), (Result<String, String>,)>(&mut store, &index)
    .map_err(|e| {
      ProbeError::new(
        ErrorCode::NoExport,
        format!(
          "export \"{}\" must have type func(input: string) -> result<string, string>: {}",
          req.export,
          crate::error::chain_message(&e)
        ),
      )
    })?;
  let t1 = Instant::now();
  let called = func.call_async(&mut store, (&req.input,)).await;
  metrics.run_us = micros(t1);
  record(&mut store, &req.limits, metrics);
  match called {
    Ok((Ok(text),)) => Ok(GuestAnswer::Success(Some(validate_output(text.into_bytes())?))),
    Ok((Err(message),)) => Ok(GuestAnswer::Failure(message)),
    Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
      Some(exit) if exit.0 == 0 => Ok(GuestAnswer::Success(None)),
      Some(exit) => Ok(GuestAnswer::Failure(format!("the guest exited with code {}", exit.0))),
      None => Err(classify(e, store.data_mut().exec(), &req.limits)),
    },
  }
}
