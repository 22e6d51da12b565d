//! JavaScript-facing shapes and their conversions to and from core types.

use super::value::JsValue;
use crate::capabilities::CapabilitiesPatch;
use crate::error::ErrorCode;
use crate::error::ProbeError;
use crate::exec::ExecOutcome;
use crate::exec::outcome::GuestAnswer;
use crate::host::log::{GuestEvent, LogRecord};
use crate::limits::LimitsPatch;
use crate::runtime::Stats;
use napi::Either;
use napi_derive::napi;
use std::collections::HashMap;

#[napi(object)]
#[derive(Default)]
pub struct NativeLimits {
  pub memory_bytes: Option<f64>,
  pub stack_bytes: Option<f64>,
  pub table_elements: Option<f64>,
  pub fuel: Option<f64>,
  pub timeout_ms: Option<f64>,
  pub open_files: Option<f64>,
}

impl From<NativeLimits> for LimitsPatch {
  fn from(l: NativeLimits) -> Self {
    LimitsPatch {
      memory_bytes: l.memory_bytes,
      stack_bytes: l.stack_bytes,
      table_elements: l.table_elements,
      fuel: l.fuel,
      timeout_ms: l.timeout_ms,
      open_files: l.open_files,
    }
  }
}

#[napi(object)]
#[derive(Default)]
pub struct NativeRuntimeOptions {
  pub worker_threads: Option<f64>,
  pub cache_dir: Option<String>,
  pub limits: Option<NativeLimits>,
  /// `'auto'`, `'baseline'` or `'optimizing'`.
  pub compiler: Option<String>,
  /// The Node executable and `lib/compile-worker.js`, for compiling large guests in a child.
  pub compile_worker: Option<NativeCompileWorker>,
  pub max_instances: Option<f64>,
  pub max_queued: Option<f64>,
  pub max_total_memory_bytes: Option<f64>,
  /// Start executions on the calling thread for one slice (default true).
  pub inline: Option<bool>,
}

#[napi(object)]
pub struct NativeCompileWorker {
  pub program: String,
  pub script: String,
}

#[napi(object)]
pub struct NativeHttpCapability {
  pub allow: Vec<String>,
  pub max_concurrent: Option<f64>,
  pub max_response_bytes: Option<f64>,
  pub timeout_ms: Option<f64>,
  /// The execution's `label` (set by index.js), handed to the http handler with each hop.
  pub label: Option<String>,
}

#[napi(object)]
pub struct NativePreopen {
  pub host_path: String,
  pub guest_path: String,
  pub readonly: Option<bool>,
}

#[napi(object)]
pub struct NativeFsCapability {
  pub preopens: Vec<NativePreopen>,
}

#[napi(object)]
pub struct NativeCapabilities {
  pub http: Option<NativeHttpCapability>,
  pub fs: Option<NativeFsCapability>,
  pub env: Option<HashMap<String, String>>,
  pub args: Option<Vec<String>>,
}

impl From<NativeCapabilities> for CapabilitiesPatch {
  fn from(c: NativeCapabilities) -> Self {
    let (http_allow, http_max_concurrent, http_max_response_bytes, http_timeout_ms, http_label) = match c.http {
      Some(h) => (
        Some(h.allow),
        h.max_concurrent,
        h.max_response_bytes,
        h.timeout_ms,
        h.label,
      ),
      None => (None, None, None, None, None),
    };
    let mut env: Vec<(String, String)> = c.env.unwrap_or_default().into_iter().collect();
    env.sort();
    CapabilitiesPatch {
      http_allow,
      http_max_concurrent,
      http_max_response_bytes,
      http_timeout_ms,
      http_label,
      preopens: c.fs.map(|fs| {
        fs.preopens
          .into_iter()
          .map(|p| (p.host_path, p.guest_path, p.readonly.unwrap_or(false)))
          .collect()
      }),
      env,
      args: c.args.unwrap_or_default(),
    }
  }
}

#[napi(object)]
#[derive(Default)]
pub struct NativeExecuteOptions {
  pub export: Option<String>,
  pub limits: Option<NativeLimits>,
  pub capabilities: Option<NativeCapabilities>,
}

#[napi(object, object_from_js = false)]
pub struct NativeError {
  pub code: String,
  pub message: String,
  pub trap_kind: Option<String>,
  pub backtrace: Option<Vec<String>>,
}

impl From<ProbeError> for NativeError {
  fn from(e: ProbeError) -> Self {
    let (trap_kind, backtrace) = match e.trap {
      Some(t) => (Some(t.kind), Some(t.backtrace)),
      None => (None, None),
    };
    NativeError {
      code: e.code.as_str().to_string(),
      message: e.message,
      trap_kind,
      backtrace,
    }
  }
}

/// Constructor errors carry the stable code as the JS error's `code`.
pub fn to_napi_error(e: ProbeError) -> napi::Error<String> {
  napi::Error::new(e.code.as_str().to_string(), e.message)
}

#[napi(object, object_from_js = false)]
#[derive(Default)]
pub struct NativeMetrics {
  pub instantiate_us: f64,
  pub run_us: f64,
  pub fuel_consumed: Option<f64>,
  pub memory_peak_bytes: f64,
  pub host_calls: f64,
}

#[napi(object, object_from_js = false)]
pub struct NativeLogRecord {
  pub level: String,
  pub message: String,
  pub timestamp: f64,
  pub source: String,
}

impl From<LogRecord> for NativeLogRecord {
  fn from(r: LogRecord) -> Self {
    NativeLogRecord {
      level: r.level.as_str().to_string(),
      message: r.message,
      timestamp: r.timestamp,
      source: r.source.as_str().to_string(),
    }
  }
}

/// An event a guest emitted, for `onEvent`; `data` is JSON text.
#[napi(object, object_from_js = false)]
pub struct NativeGuestEvent {
  pub name: String,
  pub data: String,
  pub timestamp: f64,
}

impl From<&GuestEvent> for NativeGuestEvent {
  fn from(e: &GuestEvent) -> Self {
    NativeGuestEvent {
      name: e.name.clone(),
      data: e.data.clone(),
      timestamp: e.timestamp,
    }
  }
}

/// One execution as JavaScript receives it: either the guest's answer (`success`, `output` as
/// JSON text, `error`; `value` for a typed call) or `failure` when the runtime stopped or could
/// not run the guest (for ERR_WASM_GUEST_ERROR, `value` is the error's payload).
#[napi(object, object_from_js = false)]
pub struct NativeOutcome {
  pub success: bool,
  pub output: Option<String>,
  pub error: Option<String>,
  pub failure: Option<NativeError>,
  #[napi(ts_type = "unknown")]
  pub value: Option<JsValue>,
  pub latency_ms: f64,
  pub metrics: NativeMetrics,
  pub logs: Vec<NativeLogRecord>,
}

impl NativeOutcome {
  pub fn rejected(e: ProbeError) -> Self {
    NativeOutcome {
      success: false,
      output: None,
      error: None,
      failure: Some(e.into()),
      value: None,
      latency_ms: 0.0,
      metrics: NativeMetrics::default(),
      logs: Vec::new(),
    }
  }
}

impl From<ExecOutcome> for NativeOutcome {
  fn from(o: ExecOutcome) -> Self {
    let (success, output, error, failure, value) = match o.result {
      Ok(GuestAnswer::Success(output)) => (true, output, None, None, None),
      Ok(GuestAnswer::Failure(message)) => (false, None, Some(message), None, None),
      Ok(GuestAnswer::Value(v)) => (true, None, None, None, Some(JsValue(v))),
      Ok(GuestAnswer::Error { message, payload }) => {
        let failure = NativeError {
          code: ErrorCode::GuestError.as_str().to_string(),
          message,
          trap_kind: None,
          backtrace: None,
        };
        (false, None, None, Some(failure), Some(JsValue(payload)))
      }
      Err(e) => (false, None, None, Some(e.into()), None),
    };
    NativeOutcome {
      success,
      output,
      error,
      failure,
      value,
      latency_ms: o.latency_ms,
      metrics: NativeMetrics {
        instantiate_us: o.metrics.instantiate_us,
        run_us: o.metrics.run_us,
        fuel_consumed: o.metrics.fuel_consumed.map(|f| f as f64),
        memory_peak_bytes: o.metrics.memory_peak_bytes as f64,
        host_calls: o.metrics.host_calls as f64,
      },
      logs: o.logs.into_iter().map(Into::into).collect(),
    }
  }
}

/// How many figures a lean outcome writes: latencyMs, instantiateUs, runUs, fuelConsumed (NaN
/// when not counted), memoryPeakBytes, hostCalls — in this order, as lib/outcome.js reads them.
pub const FIGURES: usize = 6;

/// The numbers of a caller's figures array.
pub fn figures_of<'a>(figures: &'a mut napi::bindgen_prelude::Float64ArraySlice<'_>) -> &'a mut [f64] {
  // SAFETY: the array lives in the JavaScript heap and only the JavaScript thread touches it;
  // that thread is inside this native call, so nothing reads or writes it meanwhile.
  unsafe { figures.as_mut() }
}

/// An outcome as it crosses to JavaScript on the calling thread. A success with output and no
/// logs — most calls — crosses as its output JSON text alone, its figures written into the
/// caller's `Float64Array`: napi builds an object one named property at a time, and for the
/// outcome and its metrics that cost more than the guest's own run (perf: 23% of a `callSync`).
/// Anything else crosses as a [`NativeOutcome`].
pub fn cross(o: ExecOutcome, figures: &mut [f64]) -> Either<String, NativeOutcome> {
  if figures.len() < FIGURES || !o.logs.is_empty() {
    return Either::B(o.into());
  }
  match o.result {
    Ok(GuestAnswer::Success(Some(output))) => {
      let m = &o.metrics;
      figures[..FIGURES].copy_from_slice(&[
        o.latency_ms,
        m.instantiate_us,
        m.run_us,
        m.fuel_consumed.map_or(f64::NAN, |f| f as f64),
        m.memory_peak_bytes as f64,
        m.host_calls as f64,
      ]);
      Either::A(output)
    }
    result => Either::B(ExecOutcome { result, ..o }.into()),
  }
}

#[napi(object, object_from_js = false)]
pub struct NativeStats {
  pub modules: f64,
  pub executions: f64,
  pub active: f64,
  pub queued: f64,
  pub cache_hits: f64,
  pub cache_misses: f64,
  pub worker_threads: f64,
  pub instances: f64,
  pub memory_bytes: f64,
  pub inline_executions: f64,
}

impl From<Stats> for NativeStats {
  fn from(s: Stats) -> Self {
    NativeStats {
      modules: s.modules as f64,
      executions: s.executions as f64,
      active: s.active as f64,
      queued: s.queued as f64,
      cache_hits: s.cache_hits as f64,
      cache_misses: s.cache_misses as f64,
      worker_threads: s.worker_threads as f64,
      instances: s.instances as f64,
      memory_bytes: s.memory_bytes as f64,
      inline_executions: s.inline_executions as f64,
    }
  }
}
