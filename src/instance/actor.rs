//! The actor that owns an instance's store: it builds the instance, serves its calls one at a
//! time in order, and applies the crash policy (rebuild with back-off, disable).

use super::*;
use crate::exec::state::exec_state;

pub(super) struct Actor {
  artifact: Arc<Artifact>,
  live: Option<LiveGuest>,
  pub(super) logs: Logs,
  policy: RestartPolicy,
  failures: VecDeque<Instant>,
  timeouts: VecDeque<Instant>,
  consecutive: u32,
  restart_at: Option<Instant>,
  shared: Arc<Shared>,
  /// The instance's place in its runtime's `maxInstances`, given back when it is disposed (or
  /// the actor ends otherwise).
  slot: Option<GaugeGuard>,
}

fn is_crash(code: ErrorCode) -> bool {
  matches!(
    code,
    ErrorCode::Trap
      | ErrorCode::StackOverflow
      | ErrorCode::MemoryLimit
      | ErrorCode::FuelExhausted
      | ErrorCode::Timeout
      | ErrorCode::Cancelled
      | ErrorCode::Host
  )
}

/// Starts an instance: builds its store now (so that link, memory or start-up failures surface
/// at once), then serves calls on `pool` until disposed. Its store is its own, outside the pool
/// and its permits: an instance never waits for, or takes, what short executions need.
pub async fn start(
  artifact: Arc<Artifact>,
  first: ExecRequest,
  policy: RestartPolicy,
  listener: Option<StateListener>,
  slot: GaugeGuard,
  pool: &tokio::runtime::Handle,
) -> Result<InstanceHandle, ProbeError> {
  let logs = Logs::new(None, None);
  let deadline = Instant::now() + first.limits.timeout;
  let mut metrics = Metrics::default();
  let live = {
    let _ticking = engines().ticker.activate();
    let exec = exec_state(&first, logs.clone(), deadline);
    let started = LiveGuest::start(&artifact, exec, &first.limits, &mut metrics);
    bounded(started, deadline, &first.stop, &first.limits).await?
  };
  let shared = Arc::new(Shared {
    state: Mutex::new(InstanceState::Ready),
    listener,
    disposing: AtomicBool::new(false),
    current: Mutex::new(None),
    calls: Arc::default(),
    unserved: AtomicUsize::new(0),
  });
  let (jobs, rx) = mpsc::unbounded_channel();
  let actor = Actor {
    artifact,
    live: Some(live),
    logs,
    policy,
    failures: VecDeque::new(),
    timeouts: VecDeque::new(),
    consecutive: 0,
    restart_at: None,
    shared: shared.clone(),
    slot: Some(slot),
  };
  let actor = Arc::new(tokio::sync::Mutex::new(actor));
  pool.spawn(run(actor.clone(), rx));
  Ok(InstanceHandle { shared, jobs, actor })
}

/// Serves the queue in order, each job with the instance to itself.
async fn run(actor: Arc<tokio::sync::Mutex<Actor>>, mut jobs: mpsc::UnboundedReceiver<Job>) {
  while let Some(job) = jobs.recv().await {
    let mut actor = actor.lock().await;
    // Taken up: from here a call on the calling thread can only come after it (the lock).
    actor.shared.unserved.fetch_sub(1, Ordering::AcqRel);
    match job {
      Job::Call { request, mut reply } => {
        reply.admitted.started();
        let (result, metrics) = actor.serve(*request, reply.submitted).await;
        reply.send(result, metrics, &actor.logs);
      }
      Job::Enable => actor.enable(),
      Job::Dispose(ack) => {
        // Memory and the instance's place go back before dispose() returns.
        actor.live = None;
        actor.slot = None;
        actor.shared.set(InstanceState::Disposed, "disposed", None);
        let _ = ack.send(());
        break;
      }
    }
  }
  // Calls still queued are dropped here; each settles with ERR_WASM_CLOSED.
}

impl Actor {
  pub(super) fn enable(&mut self) {
    if self.shared.get() == InstanceState::Disabled {
      self.failures.clear();
      self.timeouts.clear();
      self.consecutive = 0;
      self.restart_at = None;
      self.live = None;
      self.shared.set(
        InstanceState::Restarting,
        "re-enabled; the next call starts it fresh",
        None,
      );
    }
  }

  /// Runs one call submitted at `submitted`, applying the crash policy to what happened.
  pub(super) async fn serve(
    &mut self,
    request: ExecRequest,
    submitted: Instant,
  ) -> (Result<GuestAnswer, ProbeError>, Metrics) {
    let mut metrics = Metrics::default();
    let deadline = submitted + request.limits.timeout;
    if self.shared.disposing.load(Ordering::Acquire) {
      return (Err(stop_error(StopReason::Closed, &request.limits)), metrics);
    }
    if self.shared.get() == InstanceState::Disabled {
      let e = ProbeError::new(
        ErrorCode::InstanceDisabled,
        "the instance was disabled after repeated failures; enable() it to try again, or dispose() it",
      );
      return (Err(e), metrics);
    }
    if let Some(reason) = request.stop.reason() {
      return (Err(stop_error(reason, &request.limits)), metrics);
    }
    self
      .logs
      .book()
      .reset(request.live_logs.clone(), request.live_events.clone());
    *self.shared.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(request.stop.clone());
    if self.shared.disposing.load(Ordering::Acquire) {
      request.stop.stop(StopReason::Closed);
    }
    let result = {
      let work = AssertUnwindSafe(self.attempt(&request, deadline, &mut metrics))
        .catch_unwind()
        .map(|r| {
          r.unwrap_or_else(|_| {
            Err(ProbeError::new(
              ErrorCode::Host,
              "internal error: the call panicked; the instance is rebuilt, the runtime is unharmed",
            ))
          })
        });
      bounded(work, deadline, &request.stop, &request.limits).await
    };
    *self.shared.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    match &result {
      Err(e) if e.code == ErrorCode::Closed => self.live = None,
      Err(e) if is_crash(e.code) => self.crashed(e, &request.export),
      _ => {
        self.consecutive = 0;
        self.shared.set(InstanceState::Ready, "ready", None);
      }
    }
    (result, metrics)
  }

  async fn attempt(
    &mut self,
    request: &ExecRequest,
    deadline: Instant,
    metrics: &mut Metrics,
  ) -> Result<GuestAnswer, ProbeError> {
    if request.typed.is_none() {
      check_export(&self.artifact, &request.export)?;
    }
    let _ticking = engines().ticker.activate();
    match self.live.as_mut() {
      Some(live) => live.begin_call(CallSetup {
        input: request.input.clone(),
        deadline,
        stop: request.stop.clone(),
        live_logs: request.live_logs.clone(),
        live_events: request.live_events.clone(),
        limits: request.limits,
        synchronous: request.synchronous,
        script: request.script.clone(),
      })?,
      None => {
        if let Some(at) = self.restart_at.take() {
          tokio::time::sleep_until(at.into()).await;
        }
        let exec = exec_state(request, self.logs.clone(), deadline);
        let live = LiveGuest::start(&self.artifact, exec, &request.limits, metrics).await?;
        self.live = Some(live);
        self
          .shared
          .set(InstanceState::Ready, "restarted with fresh state", None);
      }
    }
    self.shared.set(InstanceState::Busy, "busy", None);
    let live = self.live.as_mut().ok_or_else(ProbeError::closed)?;
    let answer = live
      .call(&request.export, request.typed.as_ref(), &request.limits, metrics)
      .await?;
    on_time(answer, deadline, request)
  }

  /// After a crash: drop the store, count, back off, and escalate to disabled when it persists.
  fn crashed(&mut self, error: &ProbeError, export: &str) {
    self.live = None;
    if error.code == ErrorCode::Cancelled {
      self.shared.set(
        InstanceState::Restarting,
        format!("call \"{export}\" was cancelled mid-run; the next call starts the instance fresh"),
        Some(error.code),
      );
      return;
    }
    let now = Instant::now();
    let window = self.policy.window;
    let recent = |list: &mut VecDeque<Instant>| {
      list.push_back(now);
      while list.front().is_some_and(|t| now.duration_since(*t) > window) {
        list.pop_front();
      }
      list.len() as u32
    };
    let failures = recent(&mut self.failures);
    let timeouts = if error.code == ErrorCode::Timeout {
      recent(&mut self.timeouts)
    } else {
      0
    };
    self.consecutive += 1;
    let backoff = self
      .policy
      .backoff
      .saturating_mul(1 << (self.consecutive - 1).min(16))
      .min(self.policy.max_backoff);
    self.restart_at = Some(now + backoff);
    let secs = window.as_secs();
    let (state, reason) = if timeouts >= self.policy.max_timeouts {
      (
        InstanceState::Disabled,
        format!("disabled: call \"{export}\" timed out {timeouts} times within {secs} s"),
      )
    } else if failures >= self.policy.max_failures {
      (
        InstanceState::Disabled,
        format!(
          "disabled: {failures} failures within {secs} s, the last in call \"{export}\": {}",
          error.message
        ),
      )
    } else if timeouts == 1 {
      (
        InstanceState::Restarting,
        format!(
          "warning: call \"{export}\" timed out; restarting in {} ms (timeouts disable the instance at {})",
          backoff.as_millis(),
          self.policy.max_timeouts
        ),
      )
    } else if timeouts > 1 {
      (
        InstanceState::Restarting,
        format!(
          "terminated: call \"{export}\" timed out again ({timeouts} of {}); restarting in {} ms",
          self.policy.max_timeouts,
          backoff.as_millis()
        ),
      )
    } else {
      (
        InstanceState::Restarting,
        format!(
          "call \"{export}\" failed ({}); restarting with fresh state in {} ms",
          error.code,
          backoff.as_millis()
        ),
      )
    };
    self.shared.set(state, reason, Some(error.code));
  }
}
