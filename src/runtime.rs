//! One `WasmRuntime`: its worker pool, default limits, the executions in flight, counters, and
//! an orderly close.

use crate::cache::DiskCache;
use crate::capabilities::{Capabilities, CapabilitiesPatch};
use crate::capacity::{Capacity, CapacityOptions};
use crate::compile::CompileWorker;
use crate::engine::{Placement, StackClass, engines};
use crate::error::{ErrorCode, ProbeError};
use crate::exec::outcome::stop_error;
use crate::exec::state::{StopReason, StopSignal};
use crate::exec::{Admission, ExecOutcome, ExecRequest, Metrics, execute};
use crate::host::http::HttpTransport;
use crate::host::js_imports::{ImportBridge, ImportScope};
use crate::host::log::{LiveEvents, LiveLogs};
use crate::instance::{self, InstanceCloser, InstanceHandle, RestartPolicy, StateListener};
use crate::limits::{Limits, LimitsPatch};
use crate::module::{
  CompilerChoice, GuestSource, LoadConfig, LoadedModule, ModuleKind, load, load_precompiled, precompile,
};
use crate::store_share::StoreShare;
use crate::typed::reflect::ImportInfo;
use crate::typed::value::Value;
use futures::FutureExt;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Default)]
pub struct RuntimeConfig {
  pub worker_threads: Option<f64>,
  pub cache_dir: Option<PathBuf>,
  /// Performs the HTTP requests guests are granted; without one they fail as `failed`.
  pub http_transport: Option<Arc<dyn HttpTransport>>,
  pub limits: LimitsPatch,
  pub compiler: CompilerChoice,
  /// The child process large guests compile in; without one they compile in this process.
  pub compile_worker: Option<CompileWorker>,
  pub capacity: CapacityOptions,
  /// Calls the JavaScript functions that serve guests' own imports.
  pub import_bridge: Option<Arc<dyn ImportBridge>>,
  /// Starts each execution on the calling thread for one slice (see [`Runtime::start`]);
  /// off, every execution starts on the pool.
  pub inline: bool,
}

pub const MAX_WORKER_THREADS: usize = 64;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
  pub modules: u64,
  pub executions: u64,
  pub active: u64,
  pub queued: u64,
  pub cache_hits: u64,
  pub cache_misses: u64,
  pub worker_threads: u64,
  /// Live long-lived instances.
  pub instances: u64,
  /// Linear memory all live guests hold together.
  pub memory_bytes: u64,
  /// Executions and instance calls that finished within their first slice on the calling thread.
  pub inline_executions: u64,
}

#[derive(Default)]
struct Counters {
  modules: AtomicUsize,
  executions: AtomicU64,
  cache_hits: AtomicU64,
  cache_misses: AtomicU64,
  inline_executions: AtomicU64,
}

/// Counts a live module of a runtime for as long as it exists.
pub struct ModuleCount(Arc<Counters>);

impl Drop for ModuleCount {
  fn drop(&mut self) {
    self.0.modules.fetch_sub(1, Ordering::Relaxed);
  }
}

static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

/// The executions a runtime has in flight, and whether it still takes new ones. Both live under
/// one lock so that no execution can slip in after `close()` decided there is nothing to wait for.
#[derive(Default)]
struct InFlight {
  closed: bool,
  next: u64,
  stops: HashMap<u64, Arc<StopSignal>>,
}

/// What a runtime's tasks share with it; holds no worker pool, so a task never owns the pool
/// it runs on.
struct Shared {
  in_flight: Mutex<InFlight>,
  /// Live long-lived instances, for `close()` to dispose.
  instances: Mutex<Vec<InstanceCloser>>,
  settled: tokio::sync::Notify,
  counters: Arc<Counters>,
  capacity: Capacity,
  closed: AtomicBool,
  /// Becomes true when `close()` begins: loads in flight settle `ERR_WASM_CLOSED` then.
  closing: tokio::sync::watch::Sender<bool>,
  /// Held by the one `close()` that does the work; any other waits for it, then finds it done.
  close_turn: tokio::sync::Mutex<()>,
  /// This runtime's part of the process's pooled stores.
  stores: Arc<StoreShare>,
}

impl Shared {
  fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
    self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
  }

  fn finish(&self, key: u64) {
    self.lock().stops.remove(&key);
    self.settled.notify_waiters();
  }
}

pub struct Runtime {
  id: u64,
  pool: Mutex<Option<tokio::runtime::Runtime>>,
  handle: tokio::runtime::Handle,
  worker_threads: usize,
  limits: Limits,
  loading: LoadConfig,
  http_transport: Option<Arc<dyn HttpTransport>>,
  import_bridge: Option<Arc<dyn ImportBridge>>,
  inline: bool,
  shared: Arc<Shared>,
}

/// What a caller asks of one execution, as given (validated by `prepare`).
#[derive(Default)]
pub struct ExecOptions {
  pub export: Option<String>,
  pub limits: LimitsPatch,
  pub capabilities: CapabilitiesPatch,
  /// Trips to cancel the execution.
  pub stop: Option<Arc<StopSignal>>,
  /// Receives each log record as the guest writes it.
  pub live_logs: Option<LiveLogs>,
  /// Receives each event the guest emits.
  pub live_events: Option<LiveEvents>,
  /// `Some` for a typed call (`invoke`) of `export` with these arguments.
  pub args: Option<Vec<Value>>,
  /// The scope whose JavaScript functions serve the guest's own imports.
  pub import_scope: Option<u64>,
  /// For [`Runtime::run_here`]: nothing in it may wait for JavaScript.
  pub synchronous: bool,
}

/// Where an execution or a call may take its first slice, and where its outcome goes when it
/// finished there.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Start {
  /// On the calling thread when the runtime is quiet; a finished outcome is returned.
  HereReturned,
  /// On the calling thread when the runtime is quiet; a finished outcome goes to `done` (after
  /// the live records delivered there).
  HereDelivered,
  /// On the pool: the caller holds an outcome from its thread not yet settled, so calls arrive
  /// together, and the pool's threads serve them beside that thread.
  Pool,
}

/// Options of one call on a long-lived instance.
#[derive(Default)]
pub struct CallOptions {
  /// Overrides the instance's `limits.timeoutMs` for this call.
  pub timeout_ms: Option<f64>,
  pub stop: Option<Arc<StopSignal>>,
  pub live_logs: Option<LiveLogs>,
  pub live_events: Option<LiveEvents>,
  /// `Some` for a typed call (`invoke`) with these arguments.
  pub args: Option<Vec<Value>>,
  /// A call the JavaScript thread waits for (`call_blocking`): refused when another call is
  /// in flight, and nothing in it may wait for JavaScript.
  pub synchronous: bool,
}

/// A long-lived instance with what its calls inherit.
pub struct LongLived {
  pub handle: InstanceHandle,
  limits: Limits,
  capabilities: Arc<Capabilities>,
  imports: Option<ImportScope>,
  pub module: Arc<LoadedModule>,
}

/// An execution whose options were validated; nothing has run yet.
pub struct Prepared {
  module: Arc<LoadedModule>,
  request: ExecRequest,
}

/// Calls `done` exactly once: with the outcome, or, if the task is dropped before it finishes
/// (the pool shut down under it), with `ERR_WASM_CLOSED`. A waiting caller is never left hanging.
struct Completion<F: FnOnce(ExecOutcome)> {
  done: Option<F>,
  started: Instant,
}

impl<F: FnOnce(ExecOutcome)> Completion<F> {
  /// For work starting now.
  fn new(done: F) -> Self {
    Completion {
      done: Some(done),
      started: Instant::now(),
    }
  }

  /// Settles with `e` before anything ran.
  fn fail(self, e: ProbeError) {
    let started = self.started;
    self.complete(failed_outcome(e, started));
  }

  fn complete(mut self, outcome: ExecOutcome) {
    if let Some(done) = self.done.take() {
      done(outcome);
    }
  }

  /// For an outcome its caller takes directly: `done` is never called.
  fn disarm(mut self) {
    self.done = None;
  }
}

impl<F: FnOnce(ExecOutcome)> Drop for Completion<F> {
  fn drop(&mut self) {
    if let Some(done) = self.done.take() {
      done(failed_outcome(ProbeError::closed(), self.started));
    }
  }
}

fn failed_outcome(e: ProbeError, started: Instant) -> ExecOutcome {
  ExecOutcome {
    result: Err(e),
    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    metrics: Metrics::default(),
    logs: Vec::new(),
  }
}

impl Runtime {
  pub fn new(config: RuntimeConfig) -> Result<Runtime, ProbeError> {
    let limits = Limits::default().patched(&config.limits, "limits")?;
    let worker_threads = match config.worker_threads {
      None => std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4),
      Some(n) if n.fract() == 0.0 && (1.0..=MAX_WORKER_THREADS as f64).contains(&n) => n as usize,
      Some(n) => {
        return Err(ProbeError::invalid_value(
          "workerThreads",
          format!("must be a whole number from 1 to {MAX_WORKER_THREADS}, received {n}"),
        ));
      }
    };
    let capacity = Capacity::new(config.capacity)?;
    let disk_cache = config.cache_dir.as_deref().map(DiskCache::open).transpose()?;
    let id = NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed);
    let pool = tokio::runtime::Builder::new_multi_thread()
      .worker_threads(worker_threads)
      .max_blocking_threads(4)
      .thread_name(format!("wasm-probe-{id}"))
      .enable_time()
      .build()
      .map_err(|e| ProbeError::new(ErrorCode::Host, format!("cannot start the worker pool: {e}")))?;
    let handle = pool.handle().clone();
    Ok(Runtime {
      id,
      pool: Mutex::new(Some(pool)),
      handle,
      worker_threads,
      loading: LoadConfig {
        class: StackClass::for_bytes(limits.stack_bytes),
        disk: disk_cache,
        compiler: config.compiler,
        worker: config.compile_worker,
      },
      limits,
      http_transport: config.http_transport,
      import_bridge: config.import_bridge,
      inline: config.inline,
      shared: Arc::new(Shared {
        in_flight: Mutex::default(),
        instances: Mutex::default(),
        settled: tokio::sync::Notify::new(),
        counters: Arc::default(),
        capacity,
        closed: AtomicBool::new(false),
        closing: tokio::sync::watch::Sender::new(false),
        close_turn: tokio::sync::Mutex::new(()),
        stores: StoreShare::new(),
      }),
    })
  }

  fn check_open(&self) -> Result<(), ProbeError> {
    if self.shared.closed.load(Ordering::Acquire) {
      Err(ProbeError::closed())
    } else {
      Ok(())
    }
  }

  /// Reads, validates and compiles a guest on a blocking thread of this runtime's pool.
  /// `provided` are the guest imports JavaScript serves; any other import of the guest's own
  /// fails the load.
  pub async fn load(
    &self,
    source: GuestSource,
    name: Option<String>,
    provided: Vec<ImportInfo>,
  ) -> Result<Arc<LoadedModule>, ProbeError> {
    let config = self.loading.clone();
    self.load_with(move || load(source, name, &config), provided).await
  }

  /// Loads what `precompile` produced (checked, then mapped or copied).
  pub async fn load_precompiled(
    &self,
    source: GuestSource,
    name: Option<String>,
    provided: Vec<ImportInfo>,
  ) -> Result<Arc<LoadedModule>, ProbeError> {
    self.load_with(move || load_precompiled(source, name), provided).await
  }

  /// Optimized code for `source`, sealed, for `target` (default: this machine).
  pub async fn precompile(&self, source: GuestSource, target: Option<String>) -> Result<Vec<u8>, ProbeError> {
    self.check_open()?;
    self
      .handle
      .spawn_blocking(move || precompile(source, target.as_deref()))
      .await
      .map_err(|e| ProbeError::new(ErrorCode::Host, format!("compiling failed unexpectedly: {e}")))?
  }

  async fn load_with(
    &self,
    work: impl FnOnce() -> Result<crate::module::Loaded, ProbeError> + Send + 'static,
    provided: Vec<ImportInfo>,
  ) -> Result<Arc<LoadedModule>, ProbeError> {
    self.check_open()?;
    let mut closing = self.shared.closing.subscribe();
    let blocking = self.handle.spawn_blocking(work);
    // close() does not wait for a compile: the load settles ERR_WASM_CLOSED at once, and the
    // compile's thread finishes (bounded by the source's size) with nobody waiting for it.
    let loaded = tokio::select! {
      done = blocking => done
        .map_err(|e| ProbeError::new(ErrorCode::Host, format!("loading failed unexpectedly: {e}")))??,
      _ = closing.wait_for(|closed| *closed) => return Err(ProbeError::closed()),
    };
    self.check_open()?;
    check_imports(loaded.code.kind, &loaded.code.reflection.imports, &provided)?;
    let counters = &self.shared.counters;
    let counter = if loaded.cache_hit {
      &counters.cache_hits
    } else {
      &counters.cache_misses
    };
    counter.fetch_add(1, Ordering::Relaxed);
    counters.modules.fetch_add(1, Ordering::Relaxed);
    Ok(Arc::new(LoadedModule::new(
      loaded,
      self.id,
      ModuleCount(counters.clone()),
    )))
  }

  /// Validates everything about an execution before anything runs.
  pub fn prepare(
    &self,
    module: Arc<LoadedModule>,
    input: String,
    options: ExecOptions,
  ) -> Result<Prepared, ProbeError> {
    let request = self.request(&module, input, options)?;
    Ok(Prepared { module, request })
  }

  /// Validates a caller's options into a request (nothing runs).
  fn request(&self, module: &LoadedModule, input: String, options: ExecOptions) -> Result<ExecRequest, ProbeError> {
    if module.runtime_id != self.id {
      return Err(ProbeError::new(
        ErrorCode::InvalidArgType,
        "The \"module\" argument must be a WasmModule loaded by this runtime; it was loaded by another WasmRuntime",
      ));
    }
    let mut limits = self.limits.patched(&options.limits, "options.limits")?;
    if options.synchronous {
      // A synchronous call's deadline is its own option (the JS layer maps it into the limits).
      limits.timeout_option = "options.timeoutMs";
    }
    let capabilities = Arc::new(Capabilities::from_patch(options.capabilities)?);
    let export = options.export.unwrap_or_else(|| "execute".to_string());
    if export.is_empty() {
      return Err(ProbeError::invalid_value("options.export", "must not be empty"));
    }
    let typed = options
      .args
      .map(|args| typed_args(module, &export, &args))
      .transpose()?;
    Ok(ExecRequest {
      export,
      input: input.into(),
      limits,
      capabilities,
      stop: options.stop.unwrap_or_default(),
      transport: self.http_transport.clone(),
      live_logs: options.live_logs,
      live_events: options.live_events,
      budget: self.shared.capacity.memory.clone(),
      typed,
      imports: self.import_scope(options.import_scope),
      synchronous: options.synchronous,
    })
  }

  fn import_scope(&self, scope: Option<u64>) -> Option<ImportScope> {
    Some(ImportScope {
      bridge: self.import_bridge.clone()?,
      scope: scope?,
    })
  }

  /// Whether nothing of this runtime is in flight. Only then does a new execution or call start
  /// on the calling thread: with work on the pool already, the pool's threads run new work beside
  /// the JavaScript thread, which serves many calls in flight faster than taking turns on it
  /// (measured: 45 700 against 31 400 echo calls/s at 64 in flight, `npm run bench`).
  fn quiet(&self) -> bool {
    self.shared.lock().stops.is_empty()
  }

  /// Registers an execution (so that `close()` stops and awaits it) unless the runtime is closed.
  fn register(&self, stop: &Arc<StopSignal>) -> Result<u64, ProbeError> {
    let mut in_flight = self.shared.lock();
    if in_flight.closed {
      return Err(ProbeError::closed());
    }
    in_flight.next += 1;
    let key = in_flight.next;
    in_flight.stops.insert(key, stop.clone());
    Ok(key)
  }

  /// Starts a long-lived instance of `module`: its store is built now, within the activation
  /// budget `activation_timeout_ms` (which bounds every wait on the way, too); `options.limits`
  /// and `capabilities` then apply to every call. `listener` hears every state change.
  pub async fn instantiate(
    &self,
    module: Arc<LoadedModule>,
    options: ExecOptions,
    activation_timeout_ms: Option<f64>,
    policy: RestartPolicy,
    listener: Option<StateListener>,
  ) -> Result<LongLived, ProbeError> {
    self.check_open()?;
    let mut first = self.request(&module, "null".into(), options)?;
    let first_imports = first.imports.clone();
    let limits = first.limits;
    if let Some(ms) = activation_timeout_ms {
      let patch = LimitsPatch {
        timeout_ms: Some(ms),
        ..Default::default()
      };
      first.limits = first.limits.patched(&patch, "options.timeouts.activation")?;
    }
    let slot = self.shared.capacity.instance_slot()?;
    let activation = first.limits.timeout;
    let deadline = Instant::now() + activation;
    let stop = first.stop.clone();
    let key = self.register(&stop)?;
    let capabilities = first.capabilities.clone();
    let class = StackClass::for_bytes(first.limits.stack_bytes);
    // The first store is built on this runtime's pool, like every later call and rebuild.
    let pool = self.handle.clone();
    let mut task = self.handle.spawn({
      let module = module.clone();
      async move {
        // Instances allocate on demand: however many live, the pool stays free for executions.
        let artifact = module.artifact_for(class, Placement::Dedicated).await?;
        instance::start(artifact, first, policy, listener, slot, &pool).await
      }
    });
    let joined = |r: Result<Result<InstanceHandle, ProbeError>, tokio::task::JoinError>| {
      r.unwrap_or_else(|_| {
        Err(ProbeError::new(
          ErrorCode::Host,
          "internal error: starting the instance panicked or its pool shut down",
        ))
      })
    };
    let started = tokio::select! {
      // Biased: an instance that is ready wins over a deadline or stop that came at once.
      biased;
      started = &mut task => Some(joined(started)),
      () = tokio::time::sleep_until(deadline.into()) => None,
      _ = stop.stopped() => None,
    };
    let started = match started {
      Some(started) => started,
      None => {
        // Given up on: stop it and wait until it is gone (disposing it if it got ready after
        // all), so its store, memory and instance place are released before the caller hears why.
        task.abort();
        if let Ok(Ok(handle)) = task.await {
          handle.dispose().await;
        }
        let reason = stop.reason().unwrap_or(StopReason::Timeout);
        Err(stop_error(reason, &limits))
      }
    };
    // The instantiation stays registered until the instance is listed (or gone), so that a
    // close() that comes meanwhile waits for it instead of leaving it behind.
    let started = started.map_err(|e| match e.code {
      ErrorCode::Timeout => ProbeError::new(
        ErrorCode::Timeout,
        format!(
          "the instance did not start within its activation timeout of {} ms (timeouts.activation)",
          activation.as_secs_f64() * 1000.0
        ),
      ),
      ErrorCode::Cancelled => ProbeError::new(
        ErrorCode::Cancelled,
        "the instantiation was cancelled by its AbortSignal",
      ),
      ErrorCode::Closed => ProbeError::closed(),
      _ => e,
    });
    let handle = match started {
      Ok(handle) => handle,
      Err(e) => {
        self.shared.finish(key);
        return Err(e);
      }
    };
    let imports = first_imports;
    {
      let mut live = self.shared.instances.lock().unwrap_or_else(|p| p.into_inner());
      if !self.is_closed() {
        live.retain(InstanceCloser::is_alive);
        live.push(handle.closer());
      }
    }
    if self.is_closed() {
      // close() came while the instance started: it goes, and the caller hears why.
      handle.dispose().await;
      self.shared.finish(key);
      return Err(ProbeError::closed());
    }
    self.shared.finish(key);
    Ok(LongLived {
      handle,
      limits,
      capabilities,
      imports,
      module,
    })
  }

  /// Queues a call on a long-lived instance; `done` gets its outcome exactly once.
  /// Validates a call on `instance` and admits it: the request, its place on the instance and
  /// its registration for `close()`.
  fn admit_call(
    &self,
    instance: &LongLived,
    export: String,
    input: String,
    options: CallOptions,
  ) -> Result<(ExecRequest, instance::Admitted, u64), ProbeError> {
    // Said before anything else: a disposed instance is neither busy nor its runtime closed.
    if instance.handle.state() == instance::InstanceState::Disposed && !self.is_closed() {
      return Err(ProbeError::new(ErrorCode::Closed, "the instance has been disposed"));
    }
    let mut limits = instance.limits;
    if let Some(ms) = options.timeout_ms {
      let patch = LimitsPatch {
        timeout_ms: Some(ms),
        ..Default::default()
      };
      limits = limits.patched(&patch, "options")?;
      if options.synchronous {
        limits.timeout_option = "options.timeoutMs";
      }
    }
    if export.is_empty() {
      return Err(ProbeError::invalid_value("exportName", "must not be empty"));
    }
    let typed = options
      .args
      .map(|args| typed_args(&instance.module, &export, &args))
      .transpose()?;
    let request = ExecRequest {
      export,
      input: input.into(),
      limits,
      capabilities: instance.capabilities.clone(),
      stop: options.stop.unwrap_or_default(),
      transport: self.http_transport.clone(),
      live_logs: options.live_logs,
      live_events: options.live_events,
      budget: self.shared.capacity.memory.clone(),
      typed,
      imports: instance.imports.clone(),
      synchronous: options.synchronous,
    };
    let admitted = if options.synchronous {
      instance.handle.admit_idle()?
    } else {
      instance.handle.admit(|| self.shared.capacity.queue_place())?
    };
    let key = self.register(&request.stop)?;
    self.shared.counters.executions.fetch_add(1, Ordering::Relaxed);
    Ok((request, admitted, key))
  }

  /// Calls `export` of a long-lived instance. When the instance is idle, nothing else of the
  /// runtime is in flight ([`Runtime::quiet`]) and `start` allows it, the call starts on this
  /// thread for one slice, as an execution does (see [`Runtime::start`]); its outcome is
  /// returned when it finished there and `start` is [`Start::HereReturned`], else it goes to
  /// `done`.
  pub fn call<F>(
    &self,
    instance: &LongLived,
    export: String,
    input: String,
    options: CallOptions,
    start: Start,
    done: F,
  ) -> Option<ExecOutcome>
  where
    F: FnOnce(ExecOutcome) + Send + 'static,
  {
    let completion = Completion::new(done);
    let inline = self.inline && start != Start::Pool && self.quiet();
    let (request, admitted, key) = match self.admit_call(instance, export, input, options) {
      Ok(admitted) => admitted,
      Err(e) => {
        completion.fail(e);
        return None;
      }
    };
    let shared = self.shared.clone();
    let here = if inline {
      instance.handle.try_here(request, admitted)
    } else {
      Err(Box::new((request, admitted)))
    };
    let work = match here {
      Ok(work) => work,
      Err(queued) => {
        let (request, admitted) = *queued;
        instance.handle.call(request, admitted, move |outcome| {
          shared.finish(key);
          completion.complete(outcome);
        });
        return None;
      }
    };
    let work = work.map(move |outcome| {
      shared.finish(key);
      outcome
    });
    self.first_slice(Box::pin(work), start, completion)
  }

  /// Calls `export` of an idle instance on this thread and waits for its outcome, at most its
  /// deadline (`timeout_ms`) and the backstop's grace (`callSync`); `ERR_WASM_BUSY` when another
  /// call is in flight or queued.
  pub fn call_blocking(&self, instance: &LongLived, export: String, input: String, timeout_ms: f64) -> ExecOutcome {
    let started = Instant::now();
    let options = CallOptions {
      timeout_ms: Some(timeout_ms),
      synchronous: true,
      ..CallOptions::default()
    };
    let (request, admitted, key) = match self.admit_call(instance, export, input, options) {
      Ok(admitted) => admitted,
      Err(e) => return failed_outcome(e, started),
    };
    let outcome = match instance.handle.try_here(request, admitted) {
      Ok(work) => {
        let _context = self.handle.enter();
        futures::executor::block_on(work)
      }
      // Admitted as the only call, yet the instance is still busy with an enable or a dispose.
      Err(_) => failed_outcome(
        ProbeError::new(
          ErrorCode::Busy,
          "the instance is busy, and a synchronous call does not wait for it",
        ),
        started,
      ),
    };
    self.shared.finish(key);
    outcome
  }

  /// Starts a prepared execution on this runtime's pool; `done` gets its outcome exactly once,
  /// on a pool thread (or at once on this thread when the runtime is closed).
  pub fn submit<F>(&self, prepared: Prepared, done: F)
  where
    F: FnOnce(ExecOutcome) + Send + 'static,
  {
    let _ = self.start(prepared, Start::Pool, done);
  }

  /// Starts a prepared execution. With inline execution on, `start` not [`Start::Pool`], a store
  /// free at once and nothing else of the runtime in flight ([`Runtime::quiet`]), its first
  /// slice runs here, on the calling thread: the future is polled once, and the guest yields it
  /// after [`crate::exec::guest::SLICE_FUEL`] of fuel (epoch ticks do not end it), or when it
  /// waits (a host call answered by JavaScript, a compile); then it continues on the pool as any
  /// other execution. A short one — most probes — thus finishes with no thread woken at all.
  /// The outcome is returned when it finished in that slice and `start` is
  /// [`Start::HereReturned`] (`done` is then never called); otherwise `done` gets it exactly once
  /// (on this thread when it finished here).
  pub fn start<F>(&self, prepared: Prepared, start: Start, done: F) -> Option<ExecOutcome>
  where
    F: FnOnce(ExecOutcome) + Send + 'static,
  {
    let completion = Completion::new(done);
    let started = completion.started;
    let admission = match Admission::now(&self.shared.stores, || self.shared.capacity.queue_place()) {
      Ok(admission) => admission,
      Err(e) => {
        completion.fail(e);
        return None;
      }
    };
    // A queued execution waits for a store: never on the calling thread.
    let inline = self.inline && start != Start::Pool && matches!(admission, Admission::Admitted(_)) && self.quiet();
    let key = match self.register(&prepared.request.stop) {
      Ok(key) => key,
      Err(e) => {
        completion.fail(e);
        return None;
      }
    };
    self.shared.counters.executions.fetch_add(1, Ordering::Relaxed);
    let shared = self.shared.clone();
    let work = Box::pin(async move {
      let run = AssertUnwindSafe(execute(prepared.module, prepared.request, started, admission)).catch_unwind();
      let outcome = run.await.unwrap_or_else(|_| {
        failed_outcome(
          ProbeError::new(
            ErrorCode::Host,
            "internal error: the execution panicked; the runtime is unharmed",
          ),
          started,
        )
      });
      shared.finish(key);
      outcome
    });
    if !inline {
      self.handle.spawn(async move { completion.complete(work.await) });
      return None;
    }
    self.first_slice(work, start, completion)
  }

  /// Polls `work` once on this thread, as its first slice: when it finishes there its outcome
  /// is returned ([`Start::HereReturned`]) or given to `completion`; otherwise it goes on on the
  /// pool.
  fn first_slice<W, F>(
    &self,
    mut work: std::pin::Pin<Box<W>>,
    start: Start,
    completion: Completion<F>,
  ) -> Option<ExecOutcome>
  where
    W: std::future::Future<Output = ExecOutcome> + Send + ?Sized + 'static,
    F: FnOnce(ExecOutcome) + Send + 'static,
  {
    let polled = {
      // Timers, blocking work and yields made in this slice belong to the pool's runtime.
      let _context = self.handle.enter();
      let _slice = crate::exec::FirstSlice::enter();
      work
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    };
    if let std::task::Poll::Ready(outcome) = polled {
      self.shared.counters.inline_executions.fetch_add(1, Ordering::Relaxed);
      if start == Start::HereReturned {
        completion.disarm();
        return Some(outcome);
      }
      completion.complete(outcome);
      return None;
    }
    self.handle.spawn(async move { completion.complete(work.await) });
    None
  }

  /// Runs a prepared execution (made with `synchronous` set) to its end on the calling thread,
  /// blocking it until the guest finishes or its deadline stops it. It never waits for a store:
  /// with none free it is `ERR_WASM_BUSY` at once.
  pub fn run_here(&self, prepared: Prepared) -> ExecOutcome {
    let started = Instant::now();
    let admission = match self.shared.stores.try_take(&engines().stores) {
      Some(permit) => Admission::Admitted(permit),
      None => {
        let busy = ProbeError::new(
          ErrorCode::Busy,
          "every store is in use, and a synchronous call does not wait for one",
        );
        return failed_outcome(busy, started);
      }
    };
    let key = match self.register(&prepared.request.stop) {
      Ok(key) => key,
      Err(e) => return failed_outcome(e, started),
    };
    self.shared.counters.executions.fetch_add(1, Ordering::Relaxed);
    let run = AssertUnwindSafe(execute(prepared.module, prepared.request, started, admission)).catch_unwind();
    let outcome = {
      // Its timers and yields belong to the pool's runtime, whose threads drive them.
      let _context = self.handle.enter();
      futures::executor::block_on(run)
    };
    self.shared.finish(key);
    outcome.unwrap_or_else(|_| {
      failed_outcome(
        ProbeError::new(
          ErrorCode::Host,
          "internal error: the execution panicked; the runtime is unharmed",
        ),
        started,
      )
    })
  }

  /// Runs a prepared execution on this runtime's pool and waits for its outcome.
  pub async fn execute(&self, prepared: Prepared) -> ExecOutcome {
    let started = Instant::now();
    let (tx, rx) = tokio::sync::oneshot::channel();
    self.submit(prepared, move |outcome| {
      let _ = tx.send(outcome);
    });
    rx.await
      .unwrap_or_else(|_| failed_outcome(ProbeError::closed(), started))
  }

  pub fn stats(&self) -> Stats {
    let c = &self.shared.counters;
    let capacity = &self.shared.capacity;
    let queued = capacity.queued.get() as u64;
    // Everything registered (executions, calls, instances starting) that is not waiting to start.
    let in_flight = self.shared.lock().stops.len() as u64;
    Stats {
      modules: c.modules.load(Ordering::Relaxed) as u64,
      executions: c.executions.load(Ordering::Relaxed),
      active: in_flight.saturating_sub(queued),
      queued,
      instances: capacity.instances.get() as u64,
      memory_bytes: capacity.memory.used(),
      cache_hits: c.cache_hits.load(Ordering::Relaxed),
      cache_misses: c.cache_misses.load(Ordering::Relaxed),
      worker_threads: self.worker_threads as u64,
      inline_executions: c.inline_executions.load(Ordering::Relaxed),
    }
  }

  /// Refuses new work, stops what is running (it settles with `ERR_WASM_CLOSED`), waits for it to
  /// settle, then releases the worker threads. Calls made while one is under way wait for it;
  /// calling it again is harmless.
  pub async fn close(&self) {
    let _turn = self.shared.close_turn.lock().await;
    self.shared.closed.store(true, Ordering::Release);
    self.shared.closing.send_replace(true);
    loop {
      let notified = self.shared.settled.notified();
      {
        let mut in_flight = self.shared.lock();
        in_flight.closed = true;
        if in_flight.stops.is_empty() {
          break;
        }
        for stop in in_flight.stops.values() {
          stop.stop(StopReason::Closed);
        }
      }
      notified.await;
    }
    // Then every live instance goes (queued calls settle ERR_WASM_CLOSED), so that its memory
    // and place are given back before close() returns.
    let live = std::mem::take(&mut *self.shared.instances.lock().unwrap_or_else(|p| p.into_inner()));
    for instance in &live {
      instance.dispose().await;
    }
    let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(pool) = pool {
      pool.shutdown_background();
    }
  }

  pub fn is_closed(&self) -> bool {
    self.shared.closed.load(Ordering::Acquire)
  }
}

impl Drop for Runtime {
  fn drop(&mut self) {
    let pool = self.pool.get_mut().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(pool) = pool {
      // Never block whoever drops the last reference (it may be the JS thread).
      pool.shutdown_background();
    }
  }
}

/// Checks and converts the arguments of a typed call of `name`, before anything runs.
fn typed_args(module: &LoadedModule, name: &str, args: &[Value]) -> Result<crate::typed::TypedArgs, ProbeError> {
  let artifact = module.code.first();
  crate::typed::prepare_call(&artifact, &module.code.reflection.functions, name, args)
}

/// The link check of a load: every import of the guest's own must be served by JavaScript, and
/// JavaScript may serve nothing the guest does not import.
fn check_imports(kind: ModuleKind, needed: &[ImportInfo], provided: &[ImportInfo]) -> Result<(), ProbeError> {
  // As `module.imports` lists them: `module::name` for core modules, `interface#name` for components.
  let show = |i: &ImportInfo| match kind {
    ModuleKind::Module => format!("{}::{}", i.module, i.name),
    ModuleKind::Component => format!("{}#{}", i.module, i.name),
  };
  let missing: Vec<String> = needed.iter().filter(|i| !provided.contains(i)).map(show).collect();
  if !missing.is_empty() {
    return Err(ProbeError::new(
      ErrorCode::Link,
      format!(
        "the guest imports {} that neither the runtime nor options.imports provides",
        missing.join(", ")
      ),
    ));
  }
  if let Some(extra) = provided.iter().find(|i| !needed.contains(i)) {
    let known: Vec<String> = needed.iter().map(show).collect();
    return Err(ProbeError::invalid_value(
      &format!("options.imports['{}']['{}']", extra.module, extra.name),
      format!(
        "the guest imports no such function; its own imports are {}",
        if known.is_empty() {
          "none".to_string()
        } else {
          known.join(", ")
        }
      ),
    ));
  }
  Ok(())
}
