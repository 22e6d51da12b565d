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
use crate::exec::link::Artifact;
use crate::exec::outcome::{GuestAnswer, stop_error};
use crate::exec::{ExecOutcome, ExecRequest, Metrics, bounded, on_time};
use crate::host::log::Logs;
use crate::stop::{StopReason, StopSignal};
use futures::FutureExt;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

mod actor;
mod policy;

use actor::Actor;
pub use actor::start;
pub use policy::{InstanceState, RestartPolicy, RestartPolicyPatch, StateChange, StateListener};

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
