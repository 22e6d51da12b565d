//! One execution: a fresh store from the module's `InstancePre`, limits, deadline and stop
//! signal wired in, the export called with `call_async` on the Tokio pool, and the outcome.

pub mod guest;
pub mod link;
pub mod outcome;
pub mod state;

use crate::capabilities::Capabilities;
use crate::capacity::{GaugeGuard, MemoryBudget};
use crate::engine::{Placement, StackClass, TICK, engines};
use crate::error::ProbeError;
use crate::host::context::ScriptCall;
use crate::host::http::HttpTransport;
use crate::host::import_bridge::ImportScope;
use crate::host::log::{LiveEvents, LiveLogs, LogRecord, Logs};
use crate::limits::Limits;
use crate::module::LoadedModule;
use crate::stop::{StopReason, StopSignal};
use crate::store_share::{StorePermit, StoreShare};
use crate::typed::args::TypedArgs;
use guest::LiveGuest;
use outcome::{GuestAnswer, stop_error};
use std::sync::Arc;
use std::time::Instant;

thread_local! {
  /// While this thread runs the first slice of an execution (`Runtime::start`): when it ends.
  static FIRST_SLICE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// The longest the first slice may hold the calling thread. Fuel ends it first for guest code
/// ([`guest::SLICE_FUEL`], about 100 µs); this bounds host calls that do work without fuel
/// (WASI `random_get` of many megabytes, say). Checked at epoch ticks ([`TICK`]), so the slice
/// ends at the first tick past it.
pub const FIRST_SLICE_WALL: std::time::Duration = std::time::Duration::from_millis(1);

/// Marks this thread as running an execution's first slice until it drops. Epoch ticks end
/// the slice only once [`FIRST_SLICE_WALL`] has passed (before that, fuel ends it,
/// deterministically), so whether a short execution finishes there does not depend on when the
/// ticker happens to tick.
pub struct FirstSlice(());

impl FirstSlice {
  pub fn enter() -> FirstSlice {
    FIRST_SLICE.with(|c| c.set(Some(Instant::now() + FIRST_SLICE_WALL)));
    FirstSlice(())
  }

  /// When the first slice this thread runs must end, if it runs one.
  pub fn ends() -> Option<Instant> {
    FIRST_SLICE.with(std::cell::Cell::get)
  }
}

impl Drop for FirstSlice {
  fn drop(&mut self) {
    FIRST_SLICE.with(|c| c.set(None));
  }
}

/// How an execution got in: with a store at once, or with a place in the queue.
pub enum Admission {
  Admitted(StorePermit),
  /// Counted as queued until its runtime may have a store (or the execution goes).
  Queued(GaugeGuard, Arc<StoreShare>),
}

impl Admission {
  /// A store now if `share`'s runtime may have one, else a queue place from `queue`
  /// (`ERR_WASM_BUSY` when full).
  pub fn now(
    share: &Arc<StoreShare>,
    queue: impl FnOnce() -> Result<GaugeGuard, ProbeError>,
  ) -> Result<Admission, ProbeError> {
    match share.try_take(&engines().stores) {
      Some(permit) => Ok(Admission::Admitted(permit)),
      None => queue().map(|place| Admission::Queued(place, share.clone())),
    }
  }

  async fn permit(self) -> Result<StorePermit, ProbeError> {
    match self {
      Admission::Admitted(permit) => Ok(permit),
      Admission::Queued(place, share) => {
        let permit = share.take(&engines().stores).await;
        drop(place);
        permit.ok_or_else(ProbeError::closed)
      }
    }
  }
}

/// Everything one execution needs, decided and validated before it starts.
pub struct ExecRequest {
  pub export: String,
  pub input: Arc<str>,
  pub limits: Limits,
  pub capabilities: Arc<Capabilities>,
  pub stop: Arc<StopSignal>,
  /// Performs granted HTTP requests (the runtime's Node-side handler).
  pub transport: Option<Arc<dyn HttpTransport>>,
  pub live_logs: Option<LiveLogs>,
  pub live_events: Option<LiveEvents>,
  /// The runtime's budget for all its guests' linear memory.
  pub budget: Arc<MemoryBudget>,
  /// A typed call (`invoke`): the export's arguments, checked against its type; `None` for a
  /// probe call with `input`.
  pub typed: Option<TypedArgs>,
  /// Where the guest's JavaScript-implemented imports are answered.
  pub imports: Option<ImportScope>,
  /// Runs on the JavaScript thread to its end (`Runtime::run_here`): host calls that would wait
  /// for JavaScript are refused.
  pub synchronous: bool,
  /// For a script module: the script the built-in JavaScript engine runs, and its function.
  pub script: Option<ScriptCall>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
  pub instantiate_us: f64,
  pub run_us: f64,
  pub fuel_consumed: Option<u64>,
  pub memory_peak_bytes: u64,
  pub host_calls: u64,
}

pub struct ExecOutcome {
  pub result: Result<GuestAnswer, ProbeError>,
  pub latency_ms: f64,
  pub metrics: Metrics,
  pub logs: Vec<LogRecord>,
}

/// How long after its deadline (or stop) an execution blocked in a host call is abandoned. A
/// computing guest is interrupted by the epoch callback within a tick, with full metrics; this
/// backstop catches guests that wait in the host, where epochs do not reach.
const BACKSTOP_GRACE: std::time::Duration = TICK.saturating_mul(3);

/// Runs `work` (a guest call) but gives up on it [`BACKSTOP_GRACE`] after `deadline`, or after
/// `stop` fired, whichever comes first — for guests that wait in a host call, where epochs do not
/// reach. A computing guest is interrupted earlier, within a tick, by its epoch callback.
pub async fn bounded<F, T>(work: F, deadline: Instant, stop: &StopSignal, limits: &Limits) -> Result<T, ProbeError>
where
  F: std::future::Future<Output = Result<T, ProbeError>>,
{
  let backstop = tokio::time::sleep_until((deadline + BACKSTOP_GRACE).into());
  // After a stop, wait one tick: a computing guest is interrupted by its epoch callback in that
  // time (and reports its metrics); one waiting in a host call is dropped right after.
  let stopped = async {
    let reason = stop.stopped().await;
    tokio::time::sleep(TICK).await;
    reason
  };
  tokio::select! {
    r = work => r,
    () = backstop => {
      stop.stop(StopReason::Timeout);
      Err(stop_error(stop.reason().unwrap_or(StopReason::Timeout), limits))
    }
    reason = stopped => Err(stop_error(reason, limits)),
  }
}

/// Runs one execution to its outcome; never panics, never outlives its deadline by more than
/// [`BACKSTOP_GRACE`].
pub async fn execute(
  module: Arc<LoadedModule>,
  req: ExecRequest,
  started: Instant,
  admission: Admission,
) -> ExecOutcome {
  let logs = Logs::new(req.live_logs.clone(), req.live_events.clone());
  let mut metrics = Metrics::default();
  let deadline = started + req.limits.timeout;
  let stop = req.stop.clone();
  let limits = req.limits;
  let work = run(&module, &req, deadline, &logs, &mut metrics, admission);
  let result = bounded(work, deadline, &stop, &limits).await;
  ExecOutcome {
    result,
    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    metrics,
    logs: logs.book().finish(),
  }
}

async fn run(
  module: &Arc<LoadedModule>,
  req: &ExecRequest,
  deadline: Instant,
  logs: &Logs,
  metrics: &mut Metrics,
  admission: Admission,
) -> Result<GuestAnswer, ProbeError> {
  let _permit = admission.permit().await?;

  let artifact = module
    .artifact_for(StackClass::for_bytes(req.limits.stack_bytes), Placement::Shared)
    .await?;
  let _ticking = engines().ticker.activate();
  let exec = state::exec_state(req, logs.clone(), deadline);
  if req.typed.is_none() {
    guest::check_export(&artifact, &req.export)?;
  }
  let mut live = LiveGuest::start(&artifact, exec, &req.limits, metrics).await?;
  let answer = live.call(&req.export, req.typed.as_ref(), &req.limits, metrics).await?;
  on_time(answer, deadline, req)
}

/// An answer that arrives after the deadline does not count: the guest may have been cut off in
/// a host call (its request answered `timeout` because the budget ran out) and finished between
/// two epoch ticks.
pub fn on_time(answer: GuestAnswer, deadline: Instant, req: &ExecRequest) -> Result<GuestAnswer, ProbeError> {
  if Instant::now() >= deadline {
    req.stop.stop(StopReason::Timeout);
    return Err(stop_error(StopReason::Timeout, &req.limits));
  }
  Ok(answer)
}
