//! The napi binding: the only place with napi types. It converts JavaScript values into core
//! types, runs core futures, and converts outcomes back. No wasm logic lives here.
//!
//! Every entry point is panic-safe: sync methods use `catch_unwind`, and futures are wrapped so
//! a panic becomes an `ERR_WASM_HOST` outcome instead of unwinding into Node.

mod answers;
mod convert;
mod http;
mod imports;
mod instance;
mod value;

use crate::error::{ErrorCode, ProbeError};
use crate::host::import_bridge::ImportAnswer;
use crate::module::{CompilerChoice, GuestSource, LoadedModule};
use crate::runtime::{ExecOptions, Runtime, RuntimeConfig};
use crate::stop::{StopReason, StopSignal};
use crate::typed::reflect::{FunctionInfo, ImportInfo};
use convert::{
  NativeError, NativeExecuteOptions, NativeGuestEvent, NativeLogRecord, NativeOutcome, NativeRuntimeOptions,
  NativeStats, cross, figures_of,
};
use futures::FutureExt;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use value::{JsArgs, JsValue};

fn panic_error(what: &str) -> ProbeError {
  ProbeError::new(
    ErrorCode::Host,
    format!("internal error: {what} panicked; the runtime is unharmed"),
  )
}

/// A loaded guest. Created by `WasmRuntime.loadModule`, never from JavaScript.
#[napi]
pub struct WasmModule {
  inner: Arc<LoadedModule>,
}

#[napi]
impl WasmModule {
  /// `'module'` for a core WebAssembly module, `'component'` for a component, `'script'` for
  /// JavaScript source run by the built-in engine.
  #[napi(getter, ts_return_type = "'module' | 'component' | 'script'")]
  pub fn kind(&self) -> &'static str {
    if self.inner.script.is_some() {
      "script"
    } else {
      self.inner.info.kind.as_str()
    }
  }

  #[napi(getter)]
  pub fn name(&self) -> String {
    self.inner.info.name.clone()
  }

  /// Size of the input in bytes (of the binary, or of the WAT text as given).
  #[napi(getter)]
  pub fn size(&self) -> f64 {
    self.inner.info.size as f64
  }

  /// Hex SHA-256 of the input bytes.
  #[napi(getter)]
  pub fn hash(&self) -> String {
    self.inner.info.hash.clone()
  }

  #[napi(getter)]
  pub fn exports(&self) -> Vec<String> {
    self.inner.info.exports.clone()
  }

  #[napi(getter)]
  pub fn imports(&self) -> Vec<String> {
    self.inner.info.imports.clone()
  }

  /// A component's world as WIT text (not for core modules or precompiled components).
  #[napi(getter, ts_return_type = "string | undefined")]
  pub fn wit(&self) -> Option<String> {
    self.inner.code.reflection.wit.clone()
  }

  /// Every export `invoke` can call, with its WIT parameter and result types.
  #[napi(getter)]
  pub fn functions(&self) -> Vec<NativeFunctionInfo> {
    self
      .inner
      .code
      .reflection
      .functions
      .iter()
      .map(NativeFunctionInfo::from)
      .collect()
  }

  /// What an instance created now runs: `'baseline'` (Winch) or `'optimized'` (Cranelift) code.
  #[napi(getter, ts_return_type = "'baseline' | 'optimized'")]
  pub fn tier(&self) -> &'static str {
    self.inner.code.tier().as_str()
  }

  /// Why the baseline compiler was not used although it was asked for, if so.
  #[napi(getter)]
  pub fn tier_fallback(&self) -> Option<String> {
    self.inner.code.fallback.clone()
  }

  /// Resolves with `null` once optimized code is in place (at once if it is), or with the reason
  /// it never will be. `index.js` turns it into `whenOptimized()`.
  #[napi(catch_unwind, ts_return_type = "Promise<string | null>")]
  pub fn optimized_or_reason<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Option<String>>> {
    let code = self.inner.code.clone();
    env.spawn_future(async move {
      let settled = AssertUnwindSafe(code.when_optimized())
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(panic_error("waiting for optimized code").message));
      Ok(settled.err())
    })
  }
}

/// The compile worker's entry point (`lib/compile-worker.js` in a child process): reads a guest
/// on stdin, compiles it as `args` says, writes the artifact, returns one JSON line.
#[napi(catch_unwind)]
#[cfg_attr(test, allow(dead_code, reason = "called from JavaScript only"))]
pub fn run_compile_worker(args: String) -> String {
  crate::compile::run_worker(&args)
}

#[napi(object, object_from_js = false)]
pub struct NativeParamInfo {
  pub name: String,
  #[napi(js_name = "type")]
  pub ty: String,
}

#[napi(object, object_from_js = false)]
pub struct NativeFunctionInfo {
  pub name: String,
  pub params: Vec<NativeParamInfo>,
  pub result: Option<String>,
}

impl From<&FunctionInfo> for NativeFunctionInfo {
  fn from(f: &FunctionInfo) -> Self {
    NativeFunctionInfo {
      name: f.name.clone(),
      params: f
        .params
        .iter()
        .map(|p| NativeParamInfo {
          name: p.name.clone(),
          ty: p.ty.clone(),
        })
        .collect(),
      result: f.result.clone(),
    }
  }
}

/// One function JavaScript serves: `module` (a WIT interface, or a core import module) and `name`.
#[napi(object)]
pub struct NativeImportInfo {
  pub module: String,
  pub name: String,
}

fn provided(imports: Option<Vec<NativeImportInfo>>) -> Vec<ImportInfo> {
  imports
    .unwrap_or_default()
    .into_iter()
    .map(|i| ImportInfo {
      module: i.module,
      name: i.name,
    })
    .collect()
}

/// TypeScript declarations (jco's conventions) for the component in `bytes` or at `path`, for
/// `wasm-probe types`; `source` names it in the header.
#[napi(catch_unwind)]
#[cfg_attr(test, allow(dead_code, reason = "called from JavaScript only"))]
pub fn typescript_declarations(bytes: Option<Uint8Array>, path: Option<String>, source: String) -> Result<String> {
  let bytes = match (bytes, path) {
    (Some(b), _) => b.to_vec(),
    (None, Some(p)) => {
      crate::source_file::read(std::path::Path::new(&p), "the component").map_err(|e| Error::from_reason(e.message))?
    }
    (None, None) => return Err(Error::from_reason("no component given")),
  };
  crate::typed::typescript::declarations(&bytes, &source).map_err(Error::from_reason)
}

/// The built-in JavaScript engine `wasm` with its state built in advance (scripts/build-engine.mjs
/// runs it once, at build time).
#[napi(catch_unwind)]
#[cfg_attr(test, allow(dead_code, reason = "called from JavaScript only"))]
pub fn preinitialize_script_engine(wasm: Uint8Array) -> Result<Uint8Array> {
  crate::script::preinit::preinitialize(&wasm)
    .map(Uint8Array::from)
    .map_err(|e| Error::from_reason(e.message))
}

fn source_of(bytes: Option<Uint8Array>, path: Option<String>) -> GuestSource {
  match (bytes, path) {
    (Some(bytes), _) => GuestSource::Bytes(bytes.to_vec()),
    (None, Some(path)) => GuestSource::Path(path.into()),
    (None, None) => GuestSource::Bytes(Vec::new()),
  }
}

/// The result of `precompile`: the artifact, or why there is none.
#[napi(object, object_from_js = false)]
pub struct NativePrecompile {
  pub artifact: Option<Uint8Array>,
  pub error: Option<NativeError>,
}

/// The result of a load: the module, or why there is none.
#[napi(object, object_from_js = false)]
pub struct NativeLoad {
  pub module: Option<WasmModule>,
  pub error: Option<NativeError>,
}

/// Settles a load as the module or the error, panic-safe.
async fn loaded(
  load: impl std::future::Future<Output = std::result::Result<Arc<LoadedModule>, ProbeError>>,
) -> NativeLoad {
  let loaded = AssertUnwindSafe(load)
    .catch_unwind()
    .await
    .unwrap_or_else(|_| Err(panic_error("loading")));
  match loaded {
    Ok(module) => NativeLoad {
      module: Some(WasmModule { inner: module }),
      error: None,
    },
    Err(e) => NativeLoad {
      module: None,
      error: Some(NativeError::from(e)),
    },
  }
}

/// Trips an execution's stop signal from JavaScript (an `AbortSignal` listener calls `cancel`).
#[napi]
pub struct CancelHandle {
  signal: Arc<StopSignal>,
}

#[napi]
impl CancelHandle {
  #[napi(constructor)]
  pub fn new() -> Self {
    CancelHandle {
      signal: Arc::new(StopSignal::default()),
    }
  }

  #[napi(catch_unwind)]
  pub fn cancel(&self) {
    self.signal.stop(StopReason::Cancelled);
  }
}

impl Default for CancelHandle {
  fn default() -> Self {
    Self::new()
  }
}

/// An event for JavaScript: `(id, outcome)` when an execution or call finished, `(id, null,
/// record)` for a log record written while it runs, `(id, null, null, change)` when a long-lived
/// instance changed state, `(id, null, null, null, event)` for an event the guest emitted.
type Event = FnArgs<(
  f64,
  Option<NativeOutcome>,
  Option<NativeLogRecord>,
  Option<instance::NativeStateChange>,
  Option<NativeGuestEvent>,
)>;

/// Where execution events go: one JavaScript function per runtime, on the JS thread. One
/// long-lived threadsafe function instead of a promise per call keeps the round trip to a single
/// hop each way; events that arrive together are delivered in one turn of the event loop; and
/// being one queue, it delivers an execution's log records in order and before its outcome.
pub(crate) type Completions = ThreadsafeFunction<Event, (), Event, Status, false>;

/// The native runtime behind the JavaScript `WasmRuntime`.
#[napi]
pub struct NativeRuntime {
  core: Arc<Runtime>,
  completions: Arc<Completions>,
  http: Arc<http::JsTransport>,
  imports: Arc<imports::JsImports>,
}

#[napi]
impl NativeRuntime {
  /// `on_complete(id, outcome, record, change, event)` receives every execution's events. It
  /// must not throw. `http(id, request)` performs an HTTP hop the runtime allowed and answers
  /// with `httpDone`; `import(id, scope, module, name, args)` calls a JavaScript-implemented
  /// guest import and answers with `importDone`.
  #[napi(constructor, catch_unwind)]
  pub fn new(
    options: Option<NativeRuntimeOptions>,
    on_complete: Function<Event, ()>,
    http: Function<FnArgs<(f64, http::NativeHttpRequest)>, ()>,
    #[napi(ts_arg_type = "(id: number, scope: number, module: string, name: string, args: unknown[]) => void")]
    on_import: Function<imports::Call, ()>,
  ) -> Result<Self, String> {
    let to_error = |e: napi::Error| napi::Error::new(ErrorCode::Host.as_str().to_string(), e.reason.clone());
    let requests: http::HttpRequests = http
      .build_threadsafe_function()
      .callee_handled::<false>()
      .weak::<true>()
      .build()
      .map_err(to_error)?;
    let http = Arc::new(http::JsTransport::new(requests));
    let calls: imports::ImportCalls = on_import
      .build_threadsafe_function()
      .callee_handled::<false>()
      .weak::<true>()
      .build()
      .map_err(to_error)?;
    let imports = Arc::new(imports::JsImports::new(calls));
    let options = options.unwrap_or_default();
    let compiler = match options.compiler.as_deref() {
      None => CompilerChoice::Auto,
      Some(text) => CompilerChoice::parse(text).ok_or_else(|| {
        convert::to_napi_error(ProbeError::invalid_value(
          "options.compiler",
          format!("must be 'auto', 'baseline' or 'optimizing', received {text:?}"),
        ))
      })?,
    };
    let config = RuntimeConfig {
      worker_threads: options.worker_threads,
      cache_dir: options.cache_dir.map(Into::into),
      http_transport: Some(http.clone()),
      limits: options.limits.map(Into::into).unwrap_or_default(),
      compiler,
      compile_worker: options.compile_worker.map(|w| crate::compile::CompileWorker {
        program: w.program.into(),
        script: w.script.into(),
      }),
      capacity: crate::capacity::CapacityOptions {
        max_instances: options.max_instances,
        max_queued: options.max_queued,
        max_total_memory_bytes: options.max_total_memory_bytes,
      },
      import_bridge: Some(imports.clone()),
      inline: options.inline.unwrap_or(true),
    };
    let core = Runtime::new(config).map_err(convert::to_napi_error)?;
    let completions = on_complete
      .build_threadsafe_function()
      .callee_handled::<false>()
      .build()
      .map_err(to_error)?;
    Ok(NativeRuntime {
      core: Arc::new(core),
      completions: Arc::new(completions),
      http,
      imports,
    })
  }

  /// Whether pending completions keep the process alive: on while executions are in flight,
  /// off when idle, so an idle runtime never holds a Node process open.
  #[napi(catch_unwind)]
  pub fn set_keep_alive(&self, env: &Env, on: bool) -> Result<()> {
    let (env, tsfn) = (env.raw(), self.completions.raw());
    // SAFETY: called on the JS thread that owns `env`; `tsfn` is alive (this object holds it)
    // and is never aborted.
    let status = unsafe {
      if on {
        napi::sys::napi_ref_threadsafe_function(env, tsfn)
      } else {
        napi::sys::napi_unref_threadsafe_function(env, tsfn)
      }
    };
    if status == napi::sys::Status::napi_ok {
      Ok(())
    } else {
      Err(Error::from_reason(format!(
        "napi_(un)ref_threadsafe_function failed with status {status}"
      )))
    }
  }

  /// Loads from `bytes` (binary or WAT text) or from the file at `path`.
  #[napi(catch_unwind, ts_return_type = "Promise<NativeLoad>")]
  pub fn load_module<'env>(
    &self,
    env: &'env Env,
    bytes: Option<Uint8Array>,
    path: Option<String>,
    name: Option<String>,
    imports: Option<Vec<NativeImportInfo>>,
  ) -> Result<PromiseRaw<'env, NativeLoad>> {
    let source = source_of(bytes, path);
    let core = self.core.clone();
    let provided = provided(imports);
    env.spawn_future(async move { Ok(loaded(core.load(source, name, provided)).await) })
  }

  /// Loads JavaScript `source` as a script module of the engine at `engine` (a file path).
  #[napi(catch_unwind, ts_return_type = "Promise<NativeLoad>")]
  pub fn load_script<'env>(
    &self,
    env: &'env Env,
    engine: String,
    source: String,
    filename: String,
    name: Option<String>,
  ) -> Result<PromiseRaw<'env, NativeLoad>> {
    let core = self.core.clone();
    env.spawn_future(async move { Ok(loaded(core.load_script(engine.into(), source, filename, name)).await) })
  }

  /// Loads an artifact `precompile` produced, from `bytes` or from the file at `path`.
  #[napi(catch_unwind, ts_return_type = "Promise<NativeLoad>")]
  pub fn load_precompiled<'env>(
    &self,
    env: &'env Env,
    bytes: Option<Uint8Array>,
    path: Option<String>,
    name: Option<String>,
    imports: Option<Vec<NativeImportInfo>>,
  ) -> Result<PromiseRaw<'env, NativeLoad>> {
    let source = source_of(bytes, path);
    let core = self.core.clone();
    let provided = provided(imports);
    env.spawn_future(async move { Ok(loaded(core.load_precompiled(source, name, provided)).await) })
  }

  /// Optimized code for the guest in `bytes` or at `path`, for `target` (default: this machine).
  #[napi(catch_unwind, ts_return_type = "Promise<NativePrecompile>")]
  pub fn precompile<'env>(
    &self,
    env: &'env Env,
    bytes: Option<Uint8Array>,
    path: Option<String>,
    target: Option<String>,
  ) -> Result<PromiseRaw<'env, NativePrecompile>> {
    let source = source_of(bytes, path);
    let core = self.core.clone();
    env.spawn_future(async move {
      let compiled = AssertUnwindSafe(core.precompile(source, target))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(panic_error("precompiling")));
      Ok(match compiled {
        Ok(bytes) => NativePrecompile {
          artifact: Some(Uint8Array::new(bytes)),
          error: None,
        },
        Err(e) => NativePrecompile {
          artifact: None,
          error: Some(NativeError::from(e)),
        },
      })
    })
  }

  /// Runs `module`'s export once in a fresh instance. Its outcome is returned when it finished
  /// on this thread (see `Runtime::start`; `here` is false while the caller holds such an
  /// outcome not yet settled) with no live listeners, or when the options were refused;
  /// otherwise it goes to `on_complete` with this `id`; a lean one writes its figures into
  /// `figures` (see `convert::cross`). `input` is JSON text, or with
  /// `args` the export is invoked with those values.
  /// The guest's own imports are answered by the JavaScript functions of scope `id`. Invalid
  /// options or arguments produce an error outcome before anything runs.
  #[napi(catch_unwind)]
  #[allow(
    clippy::too_many_arguments,
    reason = "one flat call per execution, from index.js only"
  )]
  pub fn execute(
    &self,
    id: f64,
    module: &WasmModule,
    input: String,
    options: Option<NativeExecuteOptions>,
    cancel: Option<&CancelHandle>,
    live_logs: bool,
    live_events: bool,
    #[napi(ts_arg_type = "unknown[] | undefined | null")] args: Option<JsArgs>,
    here: bool,
    mut figures: Float64ArraySlice<'_>,
  ) -> Option<Either<String, NativeOutcome>> {
    let options = options.unwrap_or_default();
    let deliver = instance::deliver(&self.completions, id);
    let request = ExecOptions {
      export: options.export,
      limits: options.limits.map(Into::into).unwrap_or_default(),
      capabilities: options.capabilities.map(Into::into).unwrap_or_default(),
      stop: cancel.map(|c| c.signal.clone()),
      live_logs: live_logs.then(|| instance::live_logs(&self.completions, id)),
      live_events: live_events.then(|| instance::live_events(&self.completions, id)),
      args: args.map(|a| a.0),
      import_scope: Some(id as u64),
      synchronous: false,
    };
    let start = instance::start_where(here, live_logs || live_events);
    match self.core.prepare(module.inner.clone(), input, request) {
      Ok(prepared) => self
        .core
        .start(prepared, start, move |outcome| deliver(outcome.into()))
        .map(|outcome| cross(outcome, figures_of(&mut figures))),
      Err(e) => Some(Either::B(NativeOutcome::rejected(e))),
    }
  }

  /// Runs `module`'s export once in a fresh instance on this thread, to its end or its deadline
  /// (`executeProbeSync`): host calls that would wait for JavaScript are refused.
  #[napi(catch_unwind)]
  pub fn execute_sync(
    &self,
    module: &WasmModule,
    input: String,
    options: Option<NativeExecuteOptions>,
    mut figures: Float64ArraySlice<'_>,
  ) -> Either<String, NativeOutcome> {
    let options = options.unwrap_or_default();
    let request = ExecOptions {
      export: options.export,
      limits: options.limits.map(Into::into).unwrap_or_default(),
      synchronous: true,
      ..ExecOptions::default()
    };
    match self.core.prepare(module.inner.clone(), input, request) {
      Ok(prepared) => cross(self.core.run_here(prepared), figures_of(&mut figures)),
      Err(e) => Either::B(NativeOutcome::rejected(e)),
    }
  }

  /// Starts a long-lived instance of `module`; its state changes go to the event function with `id`.
  #[napi(catch_unwind, ts_return_type = "Promise<NativeInstantiate>")]
  pub fn instantiate<'env>(
    &self,
    env: &'env Env,
    id: f64,
    module: &WasmModule,
    options: Option<instance::NativeInstanceOptions>,
    cancel: Option<&CancelHandle>,
  ) -> Result<PromiseRaw<'env, instance::NativeInstantiate>> {
    let stop = cancel.map(|c| c.signal.clone());
    instance::instantiate(env, &self.core, &self.completions, id, module, options, stop)
  }

  /// The JavaScript handler's answer to HTTP hop `id`.
  #[napi(catch_unwind)]
  pub fn http_done(&self, id: f64, response: http::NativeHttpResponse) {
    self.http.done(id, response);
  }

  /// A JavaScript import's answer to call `id`: the value it returned (`threw` false), or what it
  /// threw — its `message` and, when it has one, its `payload`.
  #[napi(catch_unwind)]
  pub fn import_done(
    &self,
    id: f64,
    threw: bool,
    #[napi(ts_arg_type = "unknown")] value: JsValue,
    message: Option<String>,
    has_payload: bool,
  ) {
    let answer = if threw {
      ImportAnswer::Threw {
        message: message.unwrap_or_else(|| "it threw".into()),
        payload: has_payload.then_some(value.0),
      }
    } else {
      ImportAnswer::Returned(value.0)
    };
    self.imports.done(id, answer);
  }

  #[napi(catch_unwind)]
  pub fn stats(&self) -> NativeStats {
    self.core.stats().into()
  }

  #[napi(getter)]
  pub fn closed(&self) -> bool {
    self.core.is_closed()
  }

  /// Settles every in-flight execution, then releases the worker threads.
  #[napi(catch_unwind, ts_return_type = "Promise<void>")]
  pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
    let core = self.core.clone();
    env.spawn_future(async move {
      let _ = AssertUnwindSafe(core.close()).catch_unwind().await;
      Ok(())
    })
  }
}
