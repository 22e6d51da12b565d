//! Long-lived instances, the extension model: one store kept between calls, calls run one at a
//! time in order by an actor task, and a crash policy.
//!
//! The actor's state sits behind an async lock. A call made while the instance has nothing else
//! to do takes that lock on the calling thread (`try_here`) and may finish there; every other
//! call, and everything else (enable, dispose), goes through the actor's queue in order.
//!
//! Crash policy. A call that traps, overflows its stack, hits a memory, fuel or time limit (or is
//! cancelled mid-run) rejects with its code, and the instance is rebuilt fresh before the next
//! call — its state is gone. Rebuilds back off exponentially while failures continue. Failures
//! within a window disable the instance: further calls reject `ERR_WASM_INSTANCE_DISABLED` until
//! it is re-enabled or disposed. Timeouts escalate on their own: the first is a warning, the
//! second terminates (rebuilds) with that reason, the third disables. A guest's own failure
//! (`success: false`), bad output or a missing export is not a crash: the instance stays.

use crate::capacity::GaugeGuard;
use crate::engine::engines;
use crate::error::{ErrorCode, ProbeError};
use crate::exec::guest::{CallSetup, LiveGuest, check_export};
use crate::exec::outcome::{GuestAnswer, stop_error};
use crate::exec::state::{ExecState, StopReason, StopSignal};
use crate::exec::{ExecOutcome, ExecRequest, Metrics, bounded, on_time};
use crate::host::log::Logs;
use crate::module::Artifact;
use futures::FutureExt;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartPolicy {
  /// Crashes within `window` that disable the instance.
  pub max_failures: u32,
  pub window: Duration,
  /// Wait before the first rebuild after a crash; doubles per consecutive crash.
  pub backoff: Duration,
  pub max_backoff: Duration,
  /// Timeouts within `window` that disable the instance (1: warning, 2: terminated, 3: disabled).
  pub max_timeouts: u32,
}

/// A restart policy as a caller wrote it (numbers as JavaScript gave them).
#[derive(Debug, Clone, Default)]
pub struct RestartPolicyPatch {
  pub max_failures: Option<f64>,
  pub window_ms: Option<f64>,
  pub backoff_ms: Option<f64>,
  pub max_backoff_ms: Option<f64>,
  pub max_timeouts: Option<f64>,
}

impl RestartPolicy {
  pub fn from_patch(patch: &RestartPolicyPatch) -> Result<RestartPolicy, ProbeError> {
    let mut p = RestartPolicy::default();
    let count = |name: &str, v: f64| {
      if v.fract() == 0.0 && (1.0..=1000.0).contains(&v) {
        Ok(v as u32)
      } else {
        Err(ProbeError::invalid_value(
          &format!("options.restart.{name}"),
          format!("must be a whole number from 1 to 1000, received {v}"),
        ))
      }
    };
    let millis = |name: &str, v: f64| {
      if v.is_finite() && (0.0..=86_400_000.0).contains(&v) {
        Ok(Duration::from_secs_f64(v / 1000.0))
      } else {
        Err(ProbeError::invalid_value(
          &format!("options.restart.{name}"),
          format!("must be a number of milliseconds from 0 to 86400000, received {v}"),
        ))
      }
    };
    if let Some(v) = patch.max_failures {
      p.max_failures = count("maxFailures", v)?;
    }
    if let Some(v) = patch.max_timeouts {
      p.max_timeouts = count("maxTimeouts", v)?;
    }
    if let Some(v) = patch.window_ms {
      p.window = millis("windowMs", v)?;
    }
    if let Some(v) = patch.backoff_ms {
      p.backoff = millis("backoffMs", v)?;
    }
    if let Some(v) = patch.max_backoff_ms {
      p.max_backoff = millis("maxBackoffMs", v)?;
    }
    Ok(p)
  }
}

impl Default for RestartPolicy {
  fn default() -> Self {
    RestartPolicy {
      max_failures: 5,
      window: Duration::from_secs(60),
      backoff: Duration::from_millis(100),
      max_backoff: Duration::from_secs(5),
      max_timeouts: 3,
    }
  }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
  Ready,
  Busy,
  Restarting,
  Disabled,
  Disposed,
}

impl InstanceState {
  pub fn as_str(self) -> &'static str {
    match self {
      InstanceState::Ready => "ready",
      InstanceState::Busy => "busy",
      InstanceState::Restarting => "restarting",
      InstanceState::Disabled => "disabled",
      InstanceState::Disposed => "disposed",
    }
  }
}

/// A transition, with why it happened. Ready ⇄ busy around every call is not reported (read
/// `state` for it); everything else is.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
  pub state: InstanceState,
  pub previous: InstanceState,
  pub reason: String,
  pub code: Option<ErrorCode>,
}

pub type StateListener = Arc<dyn Fn(&StateChange) + Send + Sync>;

struct Shared {
  state: Mutex<InstanceState>,
  listener: Option<StateListener>,
  /// Set by `dispose`: calls not yet started settle with ERR_WASM_CLOSED.
  disposing: AtomicBool,
  /// The stop signal of the running call, for `dispose` to stop it.
  current: Mutex<Option<Arc<StopSignal>>>,
  /// Calls accepted and not settled yet (the running one included).
  calls: Arc<AtomicUsize>,
  /// Jobs sent to the actor's queue that it has not taken up yet: while any is, a call may not
  /// overtake it by running on the calling thread.
  unserved: AtomicUsize,
}

/// A call's place on its instance: counted until it settles, and in the runtime's queue while it
/// waits behind another call.
pub struct Admitted {
  call: Option<CallCount>,
  queued: Option<GaugeGuard>,
}

impl Admitted {
  fn started(&mut self) {
    self.queued = None;
  }

  fn release(&mut self) {
    self.queued = None;
    self.call = None;
  }
}

struct CallCount(Arc<AtomicUsize>);

impl Drop for CallCount {
  fn drop(&mut self) {
    self.0.fetch_sub(1, Ordering::AcqRel);
  }
}

impl Shared {
  fn get(&self) -> InstanceState {
    *self.state.lock().unwrap_or_else(|p| p.into_inner())
  }

  fn set(&self, state: InstanceState, reason: impl Into<String>, code: Option<ErrorCode>) {
    let previous = std::mem::replace(&mut *self.state.lock().unwrap_or_else(|p| p.into_inner()), state);
    let quiet = previous == state
      || matches!(
        (previous, state),
        (InstanceState::Ready, InstanceState::Busy) | (InstanceState::Busy, InstanceState::Ready)
      );
    if let Some(listener) = &self.listener
      && !quiet
    {
      listener(&StateChange {
        state,
        previous,
        reason: reason.into(),
        code,
      });
    }
  }
}

type Done = Box<dyn FnOnce(ExecOutcome) + Send>;

enum Job {
  Call { request: Box<ExecRequest>, reply: Reply },
  Enable,
  Dispose(oneshot::Sender<()>),
}

/// Settles a call exactly once, with `ERR_WASM_CLOSED` if it is dropped unanswered; its place
/// on the instance is given back first.
struct Reply {
  done: Option<Done>,
  submitted: Instant,
  admitted: Admitted,
}

impl Reply {
  fn send(mut self, result: Result<GuestAnswer, ProbeError>, metrics: Metrics, logs: &Logs) {
    self.admitted.release();
    if let Some(done) = self.done.take() {
      done(ExecOutcome {
        result,
        latency_ms: self.submitted.elapsed().as_secs_f64() * 1000.0,
        metrics,
        logs: logs.book().finish(),
      });
    }
  }
}

impl Drop for Reply {
  fn drop(&mut self) {
    self.admitted.release();
    if let Some(done) = self.done.take() {
      done(ExecOutcome {
        result: Err(ProbeError::new(
          ErrorCode::Closed,
          "the instance was disposed or its runtime closed",
        )),
        latency_ms: self.submitted.elapsed().as_secs_f64() * 1000.0,
        metrics: Metrics::default(),
        logs: Vec::new(),
      });
    }
  }
}

/// The handle on a long-lived instance.
pub struct InstanceHandle {
  shared: Arc<Shared>,
  jobs: mpsc::UnboundedSender<Job>,
  actor: Arc<tokio::sync::Mutex<Actor>>,
}

/// A call that runs on the calling thread (see [`InstanceHandle::try_here`]); it holds the
/// instance until it finishes.
pub type CallHere = std::pin::Pin<Box<dyn std::future::Future<Output = ExecOutcome> + Send>>;

impl InstanceHandle {
  pub fn state(&self) -> InstanceState {
    self.shared.get()
  }

  /// Accepts one more call: at once when the instance has nothing to do, else with a place
  /// from `queue` (which may refuse: `ERR_WASM_BUSY`).
  pub fn admit(&self, queue: impl FnOnce() -> Result<GaugeGuard, ProbeError>) -> Result<Admitted, ProbeError> {
    let ahead = self.shared.calls.fetch_add(1, Ordering::AcqRel);
    let call = CallCount(self.shared.calls.clone());
    let queued = if ahead > 0 { Some(queue()?) } else { None };
    Ok(Admitted {
      call: Some(call),
      queued,
    })
  }

  /// Admits a call only when no other is in flight or queued (a synchronous call never waits
  /// behind one): `ERR_WASM_BUSY` otherwise.
  pub fn admit_idle(&self) -> Result<Admitted, ProbeError> {
    if self
      .shared
      .calls
      .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
      .is_err()
    {
      return Err(ProbeError::new(
        ErrorCode::Busy,
        "the instance is busy with another call, and a synchronous call does not wait for it",
      ));
    }
    Ok(Admitted {
      call: Some(CallCount(self.shared.calls.clone())),
      queued: None,
    })
  }

  /// Queues an admitted call; `done` gets its outcome exactly once.
  pub fn call(&self, request: ExecRequest, admitted: Admitted, done: impl FnOnce(ExecOutcome) + Send + 'static) {
    // The reply travels with the job: if the job is never served (the instance went away with
    // it still queued), dropping it settles the call with ERR_WASM_CLOSED.
    let reply = Reply {
      done: Some(Box::new(done)),
      submitted: Instant::now(),
      admitted,
    };
    self.send(Job::Call {
      request: Box::new(request),
      reply,
    });
  }

  fn send(&self, job: Job) {
    self.shared.unserved.fetch_add(1, Ordering::AcqRel);
    if self.jobs.send(job).is_err() {
      self.shared.unserved.fetch_sub(1, Ordering::AcqRel);
    }
  }

  /// The instance itself, when nothing is queued for it or running on it.
  fn idle_actor(&self) -> Option<tokio::sync::OwnedMutexGuard<Actor>> {
    if self.shared.unserved.load(Ordering::Acquire) != 0 {
      return None;
    }
    self.actor.clone().try_lock_owned().ok()
  }

  /// An admitted call as work to run on the calling thread, when the instance is idle — no
  /// other job queued or running — so that it overtakes nothing; otherwise it is handed back
  /// to go through the queue (`call`). The work settles the call: its place on the instance is
  /// given back before the outcome is.
  pub fn try_here(&self, request: ExecRequest, admitted: Admitted) -> Result<CallHere, Box<(ExecRequest, Admitted)>> {
    let Some(mut actor) = self.idle_actor() else {
      return Err(Box::new((request, admitted)));
    };
    let submitted = Instant::now();
    Ok(Box::pin(async move {
      let mut admitted = admitted;
      admitted.started();
      let (result, metrics) = actor.serve(request, submitted).await;
      admitted.release();
      ExecOutcome {
        result,
        latency_ms: submitted.elapsed().as_secs_f64() * 1000.0,
        metrics,
        logs: actor.logs.book().finish(),
      }
    }))
  }

  /// Lifts a disable: the next call rebuilds the instance.
  pub fn enable(&self) {
    // Done at once when the instance is idle, so that a call made right after sees it.
    match self.idle_actor() {
      Some(mut actor) => actor.enable(),
      None => self.send(Job::Enable),
    }
  }

  /// Stops the running call and settles every queued one with `ERR_WASM_CLOSED`, then frees the
  /// store, its memory and its place in `maxInstances`.
  pub async fn dispose(&self) {
    dispose(&self.shared, &self.jobs).await
  }

  /// What the runtime keeps to dispose this instance at `close()`, without keeping it alive.
  pub fn closer(&self) -> InstanceCloser {
    InstanceCloser {
      shared: Arc::downgrade(&self.shared),
      jobs: self.jobs.downgrade(),
    }
  }
}

async fn dispose(shared: &Shared, jobs: &mpsc::UnboundedSender<Job>) {
  shared.disposing.store(true, Ordering::Release);
  if let Some(stop) = shared.current.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
    stop.stop(StopReason::Closed);
  }
  let (tx, rx) = oneshot::channel();
  shared.unserved.fetch_add(1, Ordering::AcqRel);
  if jobs.send(Job::Dispose(tx)).is_ok() {
    let _ = rx.await;
  } else {
    shared.unserved.fetch_sub(1, Ordering::AcqRel);
  }
}

/// A weak handle on an instance, for its runtime's `close()`.
pub struct InstanceCloser {
  shared: std::sync::Weak<Shared>,
  jobs: mpsc::WeakUnboundedSender<Job>,
}

impl InstanceCloser {
  pub fn is_alive(&self) -> bool {
    self.shared.strong_count() > 0 && self.jobs.strong_count() > 0
  }

  /// Disposes the instance if it still exists.
  pub async fn dispose(&self) {
    if let (Some(shared), Some(jobs)) = (self.shared.upgrade(), self.jobs.upgrade()) {
      dispose(&shared, &jobs).await
    }
  }
}

struct Actor {
  artifact: Arc<Artifact>,
  live: Option<LiveGuest>,
  logs: Logs,
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
    let exec = ExecState::new(&first, logs.clone(), deadline);
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
  fn enable(&mut self) {
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
  async fn serve(&mut self, request: ExecRequest, submitted: Instant) -> (Result<GuestAnswer, ProbeError>, Metrics) {
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
      })?,
      None => {
        if let Some(at) = self.restart_at.take() {
          tokio::time::sleep_until(at.into()).await;
        }
        let exec = ExecState::new(request, self.logs.clone(), deadline);
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
