//! Long-lived instances: starting one within its activation budget, and admitting and running
//! its calls (queued on the pool, inline when it is idle, or synchronously on this thread).

use super::*;

impl Runtime {
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
    let (export, script) = scripts::engine_call(&instance.module, export, options.args.is_some())?;
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
      script,
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
}

/// The link check of a load: every import of the guest's own must be served by JavaScript, and
/// JavaScript may serve nothing the guest does not import.
pub(super) fn check_imports(
  kind: ModuleKind,
  needed: &[ImportInfo],
  provided: &[ImportInfo],
) -> Result<(), ProbeError> {
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
