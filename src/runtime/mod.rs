//! One `WasmRuntime`: its worker pool, default limits, the executions in flight, counters, and
//! an orderly close.

use crate::cache::DiskCache;
use crate::capabilities::{Capabilities, CapabilitiesPatch};
use crate::capacity::{Capacity, CapacityOptions};
use crate::compile::CompileWorker;
use crate::engine::{Placement, StackClass, engines};
use crate::error::{ErrorCode, ProbeError};
use crate::exec::outcome::stop_error;
use crate::exec::{Admission, ExecOutcome, ExecRequest, Metrics, execute};
use crate::guest_kind::ModuleKind;
use crate::host::http::HttpTransport;
use crate::host::import_bridge::{ImportBridge, ImportScope};
use crate::host::log::{LiveEvents, LiveLogs};
use crate::instance::{self, InstanceCloser, InstanceHandle, RestartPolicy, StateListener};
use crate::limits::{Limits, LimitsPatch};
use crate::module::{CompilerChoice, GuestSource, LoadConfig, LoadedModule, load, load_precompiled, precompile};
use crate::stop::{StopReason, StopSignal};
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

mod execution;
mod instances;
mod scripts;

use execution::{Completion, failed_outcome, typed_args};
use instances::check_imports;

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
struct ModuleCount(Arc<Counters>);

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
    Ok(Arc::new(LoadedModule::new(loaded, self.id, self.counted())))
  }

  /// Counts one more loaded module; the guard counts it out when the module goes.
  fn counted(&self) -> Box<dyn Send + Sync> {
    let counters = &self.shared.counters;
    counters.modules.fetch_add(1, Ordering::Relaxed);
    Box::new(ModuleCount(counters.clone()))
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
