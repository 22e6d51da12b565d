//! Executions: validating a caller's options into a request, admitting it, running its first
//! slice on the calling thread when the runtime is quiet, and settling its outcome exactly once.

use super::*;

/// Calls `done` exactly once: with the outcome, or, if the task is dropped before it finishes
/// (the pool shut down under it), with `ERR_WASM_CLOSED`. A waiting caller is never left hanging.
pub(super) struct Completion<F: FnOnce(ExecOutcome)> {
  done: Option<F>,
  started: Instant,
}

impl<F: FnOnce(ExecOutcome)> Completion<F> {
  /// For work starting now.
  pub(super) fn new(done: F) -> Self {
    Completion {
      done: Some(done),
      started: Instant::now(),
    }
  }

  /// Settles with `e` before anything ran.
  pub(super) fn fail(self, e: ProbeError) {
    let started = self.started;
    self.complete(failed_outcome(e, started));
  }

  pub(super) fn complete(mut self, outcome: ExecOutcome) {
    if let Some(done) = self.done.take() {
      done(outcome);
    }
  }

  /// For an outcome its caller takes directly: `done` is never called.
  pub(super) fn disarm(mut self) {
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

pub(super) fn failed_outcome(e: ProbeError, started: Instant) -> ExecOutcome {
  ExecOutcome {
    result: Err(e),
    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    metrics: Metrics::default(),
    logs: Vec::new(),
  }
}

impl Runtime {
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
  pub(super) fn request(
    &self,
    module: &LoadedModule,
    input: String,
    options: ExecOptions,
  ) -> Result<ExecRequest, ProbeError> {
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
    let (export, script) = scripts::engine_call(module, export, options.args.is_some())?;
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
      script,
    })
  }

  pub(super) fn import_scope(&self, scope: Option<u64>) -> Option<ImportScope> {
    Some(ImportScope {
      bridge: self.import_bridge.clone()?,
      scope: scope?,
    })
  }

  /// Whether nothing of this runtime is in flight. Only then does a new execution or call start
  /// on the calling thread: with work on the pool already, the pool's threads run new work beside
  /// the JavaScript thread, which serves many calls in flight faster than taking turns on it
  /// (measured: 45 700 against 31 400 echo calls/s at 64 in flight, `npm run bench`).
  pub(super) fn quiet(&self) -> bool {
    self.shared.lock().stops.is_empty()
  }

  /// Registers an execution (so that `close()` stops and awaits it) unless the runtime is closed.
  pub(super) fn register(&self, stop: &Arc<StopSignal>) -> Result<u64, ProbeError> {
    let mut in_flight = self.shared.lock();
    if in_flight.closed {
      return Err(ProbeError::closed());
    }
    in_flight.next += 1;
    let key = in_flight.next;
    in_flight.stops.insert(key, stop.clone());
    Ok(key)
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
  pub(super) fn first_slice<W, F>(
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
}

/// Checks and converts the arguments of a typed call of `name`, before anything runs.
pub(super) fn typed_args(
  module: &LoadedModule,
  name: &str,
  args: &[Value],
) -> Result<crate::typed::args::TypedArgs, ProbeError> {
  let artifact = module.code.first();
  crate::typed::prepare_call(&artifact, &module.code.reflection.functions, name, args)
}
