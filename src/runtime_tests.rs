//! The core runtime without Node: load WAT guests and run them through `Runtime` directly, as the
//! binding does. (In the crate rather than `tests/`: the library is built as a `cdylib` only, see
//! Cargo.toml.)

use crate::error::ErrorCode;
use crate::exec::ExecOutcome;
use crate::exec::outcome::GuestAnswer;
use crate::limits::LimitsPatch;
use crate::module::{GuestSource, LoadedModule};
use crate::runtime::{ExecOptions, Runtime, RuntimeConfig};
use crate::stop::{StopReason, StopSignal};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ECHO: &str = include_str!("../__test__/guests/echo.wat");

const LOOP: &str = r#"(module (func (export "execute") (loop $l (br $l))))"#;

fn runtime() -> Arc<Runtime> {
  Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

async fn load(rt: &Runtime, wat: &str) -> Arc<LoadedModule> {
  rt.load(GuestSource::Bytes(wat.as_bytes().to_vec()), None, Vec::new())
    .await
    .expect("load")
}

async fn run(rt: &Runtime, m: &Arc<LoadedModule>, input: &str, limits: LimitsPatch) -> ExecOutcome {
  run_with(rt, m, input, limits, None).await
}

async fn run_with(
  rt: &Runtime,
  m: &Arc<LoadedModule>,
  input: &str,
  limits: LimitsPatch,
  stop: Option<Arc<StopSignal>>,
) -> ExecOutcome {
  let options = ExecOptions {
    limits,
    stop,
    ..Default::default()
  };
  let prepared = rt.prepare(m.clone(), input.to_string(), options).expect("prepare");
  rt.execute(prepared).await
}

fn code(outcome: &ExecOutcome) -> ErrorCode {
  outcome.result.as_ref().expect_err("expected an error").code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trip() {
  let rt = runtime();
  let m = load(&rt, ECHO).await;
  assert_eq!(m.info.exports, vec!["memory", "execute"]);
  let out = run(&rt, &m, r#"{"a":[1,2]}"#, LimitsPatch::default()).await;
  assert_eq!(out.result.unwrap(), GuestAnswer::Success(Some(r#"{"a":[1,2]}"#.into())));
  assert_eq!(out.metrics.host_calls, 3);
  assert_eq!(out.metrics.memory_peak_bytes, 65536);
  assert!(out.latency_ms > 0.0);
  rt.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_a_loop_within_a_few_ticks() {
  let rt = runtime();
  let m = load(&rt, LOOP).await;
  let started = Instant::now();
  let limits = LimitsPatch {
    timeout_ms: Some(100.0),
    ..Default::default()
  };
  let out = run(&rt, &m, "null", limits).await;
  assert_eq!(code(&out), ErrorCode::Timeout);
  let elapsed = started.elapsed();
  assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
  assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
  rt.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_signal_cancels_and_close_settles() {
  let rt = runtime();
  let m = load(&rt, LOOP).await;
  let stop = Arc::new(StopSignal::default());
  let stopper = stop.clone();
  tokio::spawn(async move {
    tokio::time::sleep(Duration::from_millis(30)).await;
    stopper.stop(StopReason::Cancelled);
  });
  let out = run_with(&rt, &m, "null", LimitsPatch::default(), Some(stop)).await;
  assert_eq!(code(&out), ErrorCode::Cancelled);

  let rt2 = rt.clone();
  let m2 = m.clone();
  let running = tokio::spawn(async move { run(&rt2, &m2, "null", LimitsPatch::default()).await });
  tokio::time::sleep(Duration::from_millis(30)).await;
  rt.close().await;
  assert_eq!(code(&running.await.unwrap()), ErrorCode::Closed);
  let after = rt
    .load(GuestSource::Bytes(LOOP.as_bytes().to_vec()), None, Vec::new())
    .await;
  assert_eq!(after.err().unwrap().code, ErrorCode::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_and_traps_are_classified() {
  let rt = runtime();
  let bomb = load(
    &rt,
    r#"(module (memory 1)
      (func (export "execute") (loop $g (br_if $g (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable))"#,
  )
  .await;
  let limits = LimitsPatch {
    memory_bytes: Some(1024.0 * 1024.0),
    ..Default::default()
  };
  let out = run(&rt, &bomb, "null", limits).await;
  assert_eq!(code(&out), ErrorCode::MemoryLimit);
  assert_eq!(out.metrics.memory_peak_bytes, 1024 * 1024);

  let div = load(
    &rt,
    r#"(module (func (export "execute") (result i32) (i32.div_u (i32.const 1) (i32.const 0))))"#,
  )
  .await;
  let out = run(&rt, &div, "null", LimitsPatch::default()).await;
  let err = out.result.unwrap_err();
  assert_eq!(err.code, ErrorCode::Trap);
  assert_eq!(err.trap.unwrap().kind, "integer-division-by-zero");

  let deep = load(
    &rt,
    r#"(module (func $f (param i64) (result i64) (i64.add (call $f (local.get 0)) (i64.const 1)))
      (func (export "execute") (drop (call $f (i64.const 0)))))"#,
  )
  .await;
  for stack in [64.0 * 1024.0, 8.0 * 1024.0 * 1024.0] {
    let limits = LimitsPatch {
      stack_bytes: Some(stack),
      ..Default::default()
    };
    let err = run(&rt, &deep, "null", limits).await.result.unwrap_err();
    assert_eq!(err.code, ErrorCode::StackOverflow);
    assert!(err.message.contains(&format!("{}", stack as u64)), "{}", err.message);
  }
  rt.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_rejected_before_running() {
  let rt = runtime();
  let m = load(&rt, ECHO).await;
  let limits = LimitsPatch {
    timeout_ms: Some(-5.0),
    ..Default::default()
  };
  let options = ExecOptions {
    limits,
    ..Default::default()
  };
  let err = rt.prepare(m.clone(), "null".into(), options).err().unwrap();
  assert_eq!(err.code, ErrorCode::InvalidArgValue);
  assert!(err.message.contains("options.limits.timeoutMs"));

  let other = runtime();
  let foreign = load(&other, ECHO).await;
  let err = rt
    .prepare(foreign, "null".into(), ExecOptions::default())
    .err()
    .unwrap();
  assert_eq!(err.code, ErrorCode::InvalidArgType);
  assert_eq!(rt.stats().executions, 0);
  rt.close().await;
  other.close().await;
}

const COUNTER: &str = r#"(module
  (import "probe" "output_write" (func $o (param i32 i32)))
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 48))
  (func (export "bump") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store8 (i32.const 0) (global.get $n))
    (call $o (i32.const 0) (i32.const 1))
    (i32.const 0))
  (func (export "crash") unreachable))"#;

async fn call(rt: &Runtime, instance: &crate::runtime::LongLived, export: &str) -> ExecOutcome {
  let (tx, rx) = tokio::sync::oneshot::channel();
  rt.call(
    instance,
    export.to_string(),
    "null".into(),
    crate::runtime::CallOptions::default(),
    crate::runtime::Start::Pool,
    move |outcome| {
      let _ = tx.send(outcome);
    },
  );
  rx.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_instance_keeps_state_and_rebuilds_after_a_trap() {
  use crate::instance::{InstanceState, RestartPolicy, StateChange};
  let rt = runtime();
  let m = load(&rt, COUNTER).await;
  let seen = Arc::new(std::sync::Mutex::new(Vec::<StateChange>::new()));
  let sink = seen.clone();
  let policy = RestartPolicy {
    backoff: Duration::from_millis(1),
    ..Default::default()
  };
  let instance = rt
    .instantiate(
      m,
      ExecOptions::default(),
      None,
      policy,
      Some(Arc::new(move |c: &StateChange| sink.lock().unwrap().push(c.clone()))),
    )
    .await
    .expect("instantiate");
  let answer = |o: ExecOutcome| o.result.unwrap();
  assert_eq!(
    answer(call(&rt, &instance, "bump").await),
    GuestAnswer::Success(Some("1".into()))
  );
  assert_eq!(
    answer(call(&rt, &instance, "bump").await),
    GuestAnswer::Success(Some("2".into()))
  );
  assert_eq!(code(&call(&rt, &instance, "crash").await), ErrorCode::Trap);
  assert_eq!(instance.handle.state(), InstanceState::Restarting);
  assert_eq!(
    answer(call(&rt, &instance, "bump").await),
    GuestAnswer::Success(Some("1".into()))
  );
  let states: Vec<_> = seen.lock().unwrap().iter().map(|c| c.state).collect();
  assert_eq!(states, vec![InstanceState::Restarting, InstanceState::Ready]);
  instance.handle.dispose().await;
  assert_eq!(code(&call(&rt, &instance, "bump").await), ErrorCode::Closed);
  rt.close().await;
}
