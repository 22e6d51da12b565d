//! A guest instance with its store, for one call (`executeProbe`) or many (a long-lived
//! instance): start it, prepare a call, call an export, and turn what happened into an answer.

use super::Metrics;
use super::outcome::{GuestAnswer, classify, validate_output};
use super::state::{ComponentState, CoreState, wasi_builder};
use crate::error::{ErrorCode, ProbeError, chain_message};
use crate::exec::link::{Artifact, Prepared};
use crate::host::context::{ExecState, HasExec, ScriptCall};
use crate::host::log::{LiveEvents, LiveLogs};
use crate::limits::Limits;
use crate::stop::StopSignal;
use crate::typed::args::TypedArgs;
use crate::typed::lift::{lift, lift_core};
use crate::typed::value::Value;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Instance as ComponentInstance, ResourceTable};
use wasmtime::{ExternType, Instance, Store, UpdateDeadline, ValType};

/// The most fuel a store can hold; "no fuel limit" runs with this much.
const UNLIMITED_FUEL: u64 = i64::MAX as u64;

/// The guest work between two yields of its future: an execution started on the JS thread
/// (`Runtime::start`) gives that thread back after at most this much and continues on the pool.
/// About 100 µs of optimized code (the bench's CPU guest measures it); a yield on the pool costs
/// a re-poll of a microsecond or two.
pub const SLICE_FUEL: u64 = 100_000;

pub enum LiveGuest {
  Core {
    store: Store<CoreState>,
    instance: Instance,
  },
  Component {
    store: Store<ComponentState>,
    instance: ComponentInstance,
  },
}

/// What changes from one call to the next.
pub struct CallSetup {
  pub input: Arc<str>,
  pub deadline: Instant,
  pub stop: Arc<StopSignal>,
  pub live_logs: Option<LiveLogs>,
  pub live_events: Option<LiveEvents>,
  pub limits: Limits,
  /// A call the JavaScript thread waits for: nothing in it may wait for JavaScript.
  pub synchronous: bool,
  /// For a script: which of its functions this call runs.
  pub script: Option<ScriptCall>,
}

fn configure<T: HasExec>(store: &mut Store<T>) {
  store.limiter(|s| &mut s.exec().limiter);
  // Fuel is on in every engine (engine.rs), and the interval is not 0: this cannot fail.
  let _ = store.fuel_async_yield_interval(Some(SLICE_FUEL));
  store.epoch_deadline_callback(|mut ctx| {
    if ctx.data_mut().exec().stop_reason().is_some() {
      Ok(UpdateDeadline::Interrupt)
    } else if let Some(ends) = super::FirstSlice::ends() {
      // The first slice on the calling thread is bounded by fuel (SLICE_FUEL), and by wall time
      // for host calls that burn none: past its end it yields, and goes on on the pool.
      if Instant::now() < ends {
        Ok(UpdateDeadline::Continue(1))
      } else {
        Ok(UpdateDeadline::Yield(1))
      }
    } else {
      // tokio's own yield puts the task at the back of the run queue, so a computing guest
      // shares its worker fairly with everything else queued there.
      Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
    }
  });
}

/// Arms a store for the next call: fuel budget and epoch deadline.
fn arm<T: HasExec>(store: &mut Store<T>, limits: &Limits) -> Result<(), ProbeError> {
  store
    .set_fuel(limits.fuel.unwrap_or(UNLIMITED_FUEL))
    .map_err(|e| ProbeError::new(ErrorCode::Host, format!("cannot set fuel: {e}")))?;
  store.set_epoch_deadline(1);
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

fn no_export(message: String) -> ProbeError {
  ProbeError::new(ErrorCode::NoExport, message)
}

/// The core ABI's signature rule: `() -> i32` or `() -> ()`. Returns whether it returns i32.
fn core_export_returns_i32(module: &wasmtime::Module, name: &str) -> Result<bool, ProbeError> {
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
  let wrong = |ty: &wasmtime::FuncType| {
    no_export(format!(
      "export \"{name}\" has type {ty}, but a probe export must be () -> i32 or () -> ()"
    ))
  };
  match module.get_export(name) {
    Some(ExternType::Func(ty)) => {
      let results: Vec<ValType> = ty.results().collect();
      if ty.params().len() != 0 {
        return Err(wrong(&ty));
      }
      match results.as_slice() {
        [] => Ok(false),
        [ValType::I32] => Ok(true),
        _ => Err(wrong(&ty)),
      }
    }
    Some(other) => Err(no_export(format!(
      "export \"{name}\" is a {other:?}, not a function; exported functions: {}",
      functions()
    ))),
    None => Err(no_export(format!(
      "the module has no export \"{name}\"; exported functions: {}",
      functions()
    ))),
  }
}

/// Checks that `artifact` has a callable export `name` of the probe shape, before anything runs.
pub fn check_export(artifact: &Artifact, name: &str) -> Result<(), ProbeError> {
  match &artifact.prepared {
    Prepared::Core(pre) => core_export_returns_i32(pre.module(), name).map(|_| ()),
    Prepared::Component(pre) => {
      let component = pre.component();
      if component.get_export_index(None, name).is_some() {
        return Ok(());
      }
      let names: Vec<String> = component
        .component_type()
        .exports(pre.engine())
        .map(|(n, _)| n.to_string())
        .collect();
      Err(no_export(format!(
        "the component has no export \"{name}\"; its exports: {}",
        names.join(", ")
      )))
    }
  }
}

impl LiveGuest {
  /// Creates the store and instantiates the guest (calling a core module's `_initialize`).
  pub async fn start(
    artifact: &Artifact,
    exec: ExecState,
    limits: &Limits,
    metrics: &mut Metrics,
  ) -> Result<LiveGuest, ProbeError> {
    let t0 = Instant::now();
    let started = match &artifact.prepared {
      Prepared::Core(pre) => {
        let pre = pre.for_grant(exec.capabilities.preopens.is_some());
        let wasi = wasi_builder(&exec)?.build_p1();
        let mut store = Store::new(pre.module().engine(), CoreState { exec, wasi });
        configure(&mut store);
        arm(&mut store, limits)?;
        let made = async {
          let instance = pre.instantiate_async(&mut store).await?;
          if let Some(init) = instance.get_func(&mut store, "_initialize") {
            let init = init.typed::<(), ()>(&store)?;
            init.call_async(&mut store, ()).await?;
          }
          wasmtime::Result::Ok(instance)
        }
        .await;
        match made {
          Ok(instance) => Ok(LiveGuest::Core { store, instance }),
          Err(e) => {
            record(&mut store, limits, metrics);
            Err(classify(e, store.data_mut().exec(), limits))
          }
        }
      }
      Prepared::Component(pre) => {
        let wasi = wasi_builder(&exec)?.build();
        let http = exec.http.clone();
        let state = ComponentState {
          exec,
          wasi,
          table: ResourceTable::new(),
          http: wasmtime_wasi_http::WasiHttpCtx::new(),
          http_hooks: crate::host::wasi_http::MediatedHttp(http),
        };
        let mut store = Store::new(pre.engine(), state);
        configure(&mut store);
        arm(&mut store, limits)?;
        match pre.instantiate_async(&mut store).await {
          Ok(instance) => Ok(LiveGuest::Component { store, instance }),
          Err(e) => {
            record(&mut store, limits, metrics);
            Err(classify(e, store.data_mut().exec(), limits))
          }
        }
      }
    };
    metrics.instantiate_us = micros(t0);
    started
  }

  fn exec(&mut self) -> &mut ExecState {
    match self {
      LiveGuest::Core { store, .. } => &mut store.data_mut().exec,
      LiveGuest::Component { store, .. } => &mut store.data_mut().exec,
    }
  }

  /// Resets what belongs to one call, for the next one on this instance.
  pub fn begin_call(&mut self, setup: CallSetup) -> Result<(), ProbeError> {
    let exec = self.exec();
    exec.input = setup.input;
    exec.output = None;
    exec.failure = None;
    exec.last_result.clear();
    exec.host_calls = 0;
    exec.host_fault = None;
    exec.deadline = setup.deadline;
    exec.http.deadline = setup.deadline;
    exec.synchronous = setup.synchronous;
    exec.http.synchronous = setup.synchronous;
    exec.stop = setup.stop;
    exec.script = setup.script;
    exec.limiter.refused = None;
    exec.limiter.peak = exec.limiter.total;
    exec.logs.book().reset(setup.live_logs, setup.live_events);
    match self {
      LiveGuest::Core { store, .. } => arm(store, &setup.limits),
      LiveGuest::Component { store, .. } => {
        store.data_mut().http_hooks.0.deadline = setup.deadline;
        store.data_mut().http_hooks.0.synchronous = setup.synchronous;
        arm(store, &setup.limits)
      }
    }
  }

  /// Calls `export` — with the input set for this call, or with `typed` arguments — and gives
  /// the guest's answer or why there is none. A host function that refused to serve the call
  /// (`host_fault`) fails it even when the guest carried on after the refusal.
  pub async fn call(
    &mut self,
    export: &str,
    typed: Option<&TypedArgs>,
    limits: &Limits,
    metrics: &mut Metrics,
  ) -> Result<GuestAnswer, ProbeError> {
    let answer = match typed {
      Some(args) => self.invoke(export, args, limits, metrics).await,
      None => self.call_export(export, limits, metrics).await,
    };
    match self.exec().host_fault.take() {
      Some(fault) if answer.is_ok() => Err(fault),
      _ => answer,
    }
  }

  async fn call_export(
    &mut self,
    export: &str,
    limits: &Limits,
    metrics: &mut Metrics,
  ) -> Result<GuestAnswer, ProbeError> {
    match self {
      LiveGuest::Core { store, instance } => {
        let returns_i32 = core_export_returns_i32(instance.module(&*store), export)?;
        let t1 = Instant::now();
        let called = match instance.get_func(&mut *store, export) {
          Some(func) if returns_i32 => match func.typed::<(), i32>(&*store) {
            Ok(f) => f.call_async(&mut *store, ()).await.map(Some),
            Err(e) => Err(e),
          },
          Some(func) => match func.typed::<(), ()>(&*store) {
            Ok(f) => f.call_async(&mut *store, ()).await.map(|()| None),
            Err(e) => Err(e),
          },
          None => Err(wasmtime::Error::msg("export vanished")),
        };
        metrics.run_us = micros(t1);
        record(store, limits, metrics);
        let exec = &mut store.data_mut().exec;
        let status = match called {
          Ok(status) => status,
          Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            // WASI `proc_exit`: 0 is a normal end, anything else a failure the guest reported.
            Some(exit) => Some(exit.0),
            None => return Err(classify(e, exec, limits)),
          },
        };
        if let Some(message) = exec.failure.take() {
          return Ok(GuestAnswer::Failure(String::from_utf8_lossy(&message).into_owned()));
        }
        match status {
          Some(code) if code != 0 => Ok(GuestAnswer::Failure(format!(
            "the guest's \"{export}\" returned {code} without an error message"
          ))),
          _ => Ok(GuestAnswer::Success(
            exec.output.take().map(validate_output).transpose()?,
          )),
        }
      }
      LiveGuest::Component { store, instance } => {
        let func = instance
          .get_typed_func::<(&str,), (Result<String, String>,)>(&mut *store, export)
          .map_err(|e| {
            no_export(format!(
              "export \"{export}\" must have type func(input: string) -> result<string, string>: {}",
              chain_message(&e)
            ))
          })?;
        let input = store.data().exec.input.clone();
        let t1 = Instant::now();
        let called = func.call_async(&mut *store, (&input,)).await;
        metrics.run_us = micros(t1);
        record(store, limits, metrics);
        match called {
          Ok((Ok(text),)) => Ok(GuestAnswer::Success(Some(validate_output(text.into_bytes())?))),
          Ok((Err(message),)) => Ok(GuestAnswer::Failure(message)),
          Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => Ok(GuestAnswer::Success(None)),
            Some(exit) => Ok(GuestAnswer::Failure(format!("the guest exited with code {}", exit.0))),
            None => Err(classify(e, &mut store.data_mut().exec, limits)),
          },
        }
      }
    }
  }

  /// A typed call of function `name` (`iface#fn` inside an exported interface) with arguments
  /// already checked against its type.
  async fn invoke(
    &mut self,
    name: &str,
    args: &TypedArgs,
    limits: &Limits,
    metrics: &mut Metrics,
  ) -> Result<GuestAnswer, ProbeError> {
    let vanished = || no_export(format!("the guest has no function \"{name}\""));
    match (self, args) {
      (LiveGuest::Core { store, instance }, TypedArgs::Core(args)) => {
        let func = instance.get_func(&mut *store, name).ok_or_else(vanished)?;
        let ty = func.ty(&*store);
        let mut results: Vec<wasmtime::Val> = ty
          .results()
          .map(|t| wasmtime::Val::default_for_ty(&t).unwrap_or(wasmtime::Val::I32(0)))
          .collect();
        let t1 = Instant::now();
        let called = func.call_async(&mut *store, args, &mut results).await;
        metrics.run_us = micros(t1);
        record(store, limits, metrics);
        if let Err(e) = called {
          return Err(classify(e, &mut store.data_mut().exec, limits));
        }
        Ok(GuestAnswer::Value(match results.as_slice() {
          [] => Value::Undefined,
          [one] => lift_core(one),
          many => Value::Array(many.iter().map(lift_core).collect()),
        }))
      }
      (LiveGuest::Component { store, instance }, TypedArgs::Component(args)) => {
        let index = match name.split_once('#') {
          Some((iface, func)) => instance
            .get_export_index(&mut *store, None, iface)
            .and_then(|i| instance.get_export_index(&mut *store, Some(&i), func)),
          None => instance.get_export_index(&mut *store, None, name),
        };
        let func = index
          .and_then(|i| instance.get_func(&mut *store, i))
          .ok_or_else(vanished)?;
        let result_ty = func.ty(&*store).results().next();
        let mut results = vec![wasmtime::component::Val::Bool(false); usize::from(result_ty.is_some())];
        let t1 = Instant::now();
        let called = func.call_async(&mut *store, args, &mut results).await;
        metrics.run_us = micros(t1);
        record(store, limits, metrics);
        if let Err(e) = called {
          return Err(classify(e, &mut store.data_mut().exec, limits));
        }
        Ok(match (results.first(), result_ty) {
          (Some(wasmtime::component::Val::Result(r)), Some(wasmtime::component::Type::Result(ty))) => match r {
            Ok(v) => GuestAnswer::Value(v.as_deref().zip(ty.ok()).map_or(Value::Undefined, |(v, t)| lift(v, &t))),
            Err(v) => {
              let payload = v
                .as_deref()
                .zip(ty.err())
                .map_or(Value::Undefined, |(v, t)| lift(v, &t));
              GuestAnswer::Error {
                message: crate::typed::args::guest_error_message(name, &payload),
                payload,
              }
            }
          },
          (Some(v), Some(ty)) => GuestAnswer::Value(lift(v, &ty)),
          _ => GuestAnswer::Value(Value::Undefined),
        })
      }
      _ => Err(ProbeError::new(
        ErrorCode::Host,
        "internal error: typed arguments of the wrong guest kind",
      )),
    }
  }
}
