//! One `WasmRuntime`: its worker pool, default limits, the executions in flight, counters, and
//! an orderly close.

use crate::capabilities::{Capabilities, CapabilitiesPatch};
use crate::engine::StackClass;
use crate::error::{ErrorCode, ProbeError};
use crate::exec::state::{StopReason, StopSignal};
use crate::exec::{ExecOutcome, ExecRequest, Metrics, QueuedGuard, execute};
use crate::limits::{Limits, LimitsPatch};
use crate::module::{GuestSource, LoadedModule, load};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
  pub worker_threads: Option<f64>,
  pub limits: LimitsPatch,
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
}

#[derive(Default)]
struct Counters {
  modules: AtomicUsize,
  executions: AtomicU64,
  cache_hits: AtomicU64,
  cache_misses: AtomicU64,
}

/// Counts a live module of a runtime for as long as it exists.
pub struct ModuleCount(Arc<Counters>);

impl Drop for ModuleCount {
  fn drop(&mut self) {
    self.0.modules.fetch_sub(1, Ordering::Relaxed);
  }
}

static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

pub struct Runtime {
  id: u64,
  pool: Mutex<Option<tokio::runtime::Runtime>>,
  handle: tokio::runtime::Handle,
  worker_threads: usize,
  limits: Limits,
  closed: AtomicBool,
  in_flight: Mutex<HashMap<u64, Arc<StopSignal>>>,
  settled: tokio::sync::Notify,
  next_execution: AtomicU64,
  counters: Arc<Counters>,
  queued: Arc<AtomicUsize>,
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
      limits,
      closed: AtomicBool::new(false),
      in_flight: Mutex::new(HashMap::new()),
      settled: tokio::sync::Notify::new(),
      next_execution: AtomicU64::new(1),
      counters: Arc::new(Counters::default()),
      queued: Arc::new(AtomicUsize::new(0)),
    })
  }

  pub fn id(&self) -> u64 {
    self.id
  }

  pub fn default_limits(&self) -> &Limits {
    &self.limits
  }

  fn check_open(&self) -> Result<(), ProbeError> {
    if self.closed.load(Ordering::Acquire) {
      Err(ProbeError::closed())
    } else {
      Ok(())
    }
  }

  /// Reads, validates and compiles a guest on a blocking thread of this runtime's pool.
  pub async fn load(&self, source: GuestSource, name: Option<String>) -> Result<Arc<LoadedModule>, ProbeError> {
    self.check_open()?;
    let class = StackClass::for_bytes(self.limits.stack_bytes);
    let loaded = self
      .handle
      .spawn_blocking(move || load(source, name, class))
      .await
      .map_err(|e| ProbeError::new(ErrorCode::Host, format!("loading failed unexpectedly: {e}")))??;
    let counter = if loaded.cache_hit {
      &self.counters.cache_hits
    } else {
      &self.counters.cache_misses
    };
    counter.fetch_add(1, Ordering::Relaxed);
    self.counters.modules.fetch_add(1, Ordering::Relaxed);
    Ok(Arc::new(LoadedModule::new(
      loaded,
      self.id,
      ModuleCount(self.counters.clone()),
    )))
  }

  /// Validates everything about an execution before anything runs.
  pub fn prepare(
    &self,
    module: Arc<LoadedModule>,
    export: Option<String>,
    input: String,
    limits: &LimitsPatch,
    capabilities: CapabilitiesPatch,
    stop: Option<Arc<StopSignal>>,
  ) -> Result<Prepared, ProbeError> {
    if module.runtime_id != self.id {
      return Err(ProbeError::new(
        ErrorCode::InvalidArgType,
        "The \"module\" argument must be a WasmModule loaded by this runtime; it was loaded by another WasmRuntime",
      ));
    }
    let limits = self.limits.patched(limits, "options.limits")?;
    let capabilities = Arc::new(Capabilities::from_patch(capabilities)?);
    let export = export.unwrap_or_else(|| "execute".to_string());
    if export.is_empty() {
      return Err(ProbeError::invalid_value("options.export", "must not be empty"));
    }
    Ok(Prepared {
      module,
      request: ExecRequest {
        export,
        input: input.into(),
        limits,
        capabilities,
        stop: stop.unwrap_or_default(),
      },
    })
  }

  /// Runs a prepared execution on this runtime's pool.
  pub async fn execute(&self, prepared: Prepared) -> ExecOutcome {
    let started = Instant::now();
    let failed = |e: ProbeError| ExecOutcome {
      result: Err(e),
      latency_ms: started.elapsed().as_secs_f64() * 1000.0,
      metrics: Metrics::default(),
      logs: Vec::new(),
    };
    if let Err(e) = self.check_open() {
      return failed(e);
    }
    let key = self.next_execution.fetch_add(1, Ordering::Relaxed);
    let stop = prepared.request.stop.clone();
    self.lock_in_flight().insert(key, stop.clone());
    // close() may have run between the check and the insert; it stops what it finds, so stop
    // this one too rather than let it slip through.
    if self.closed.load(Ordering::Acquire) {
      stop.stop(StopReason::Closed);
    }
    self.counters.executions.fetch_add(1, Ordering::Relaxed);
    let queued = QueuedGuard::new(self.queued.clone());
    let task = self
      .handle
      .spawn(async move { execute(prepared.module, prepared.request, started, queued).await });
    let outcome = match task.await {
      Ok(outcome) => outcome,
      Err(e) => failed(ProbeError::new(
        ErrorCode::Host,
        if e.is_panic() {
          "internal error: the execution panicked; the runtime is unharmed".to_string()
        } else {
          "the execution was dropped because the runtime shut down".to_string()
        },
      )),
    };
    self.lock_in_flight().remove(&key);
    self.settled.notify_waiters();
    outcome
  }

  fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<StopSignal>>> {
    self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
  }

  pub fn stats(&self) -> Stats {
    let c = &self.counters;
    Stats {
      modules: c.modules.load(Ordering::Relaxed) as u64,
      executions: c.executions.load(Ordering::Relaxed),
      active: self.lock_in_flight().len() as u64,
      queued: self.queued.load(Ordering::Relaxed) as u64,
      cache_hits: c.cache_hits.load(Ordering::Relaxed),
      cache_misses: c.cache_misses.load(Ordering::Relaxed),
      worker_threads: self.worker_threads as u64,
    }
  }

  /// Refuses new work, stops what is running (it settles with `ERR_WASM_CLOSED`), waits for it to
  /// settle, then releases the worker threads. Calling it again is harmless.
  pub async fn close(&self) {
    self.closed.store(true, Ordering::Release);
    loop {
      let notified = self.settled.notified();
      {
        let in_flight = self.lock_in_flight();
        if in_flight.is_empty() {
          break;
        }
        for stop in in_flight.values() {
          stop.stop(StopReason::Closed);
        }
      }
      notified.await;
    }
    let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(pool) = pool {
      pool.shutdown_background();
    }
  }

  pub fn is_closed(&self) -> bool {
    self.closed.load(Ordering::Acquire)
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
