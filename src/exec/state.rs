//! What one store carries: the execution's I/O, limits, deadline and stop signal, and the WASI
//! context of its kind of guest.

use crate::capabilities::Capabilities;
use crate::capacity::MemoryBudget;
use crate::error::{ErrorCode, ProbeError};
use crate::host::http::HttpContext;
use crate::host::log::{Logs, Source};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Why the runtime stopped a guest from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
  Timeout,
  Cancelled,
  Closed,
}

/// A flag the owner of an execution trips to stop it; read by the epoch callback and awaited
/// next to host calls, so a guest stops whether it computes or waits.
#[derive(Debug, Default)]
pub struct StopSignal {
  reason: AtomicU8,
  notify: tokio::sync::Notify,
}

impl StopSignal {
  pub fn stop(&self, reason: StopReason) {
    let code = match reason {
      StopReason::Timeout => 1,
      StopReason::Cancelled => 2,
      StopReason::Closed => 3,
    };
    // The first reason wins.
    if self
      .reason
      .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
      .is_ok()
    {
      self.notify.notify_waiters();
    }
  }

  pub fn reason(&self) -> Option<StopReason> {
    match self.reason.load(Ordering::Acquire) {
      1 => Some(StopReason::Timeout),
      2 => Some(StopReason::Cancelled),
      3 => Some(StopReason::Closed),
      _ => None,
    }
  }

  /// Resolves once [`StopSignal::stop`] has been called (at once if it already was).
  pub async fn stopped(&self) -> StopReason {
    loop {
      let notified = self.notify.notified();
      if let Some(reason) = self.reason() {
        return reason;
      }
      notified.await;
    }
  }
}

/// Caps the total linear memory of a store (all its memories together) and each table, draws
/// that memory from the runtime's budget (given back when the store goes), and remembers what it
/// refused so a later failure can be reported as `ERR_WASM_MEMORY_LIMIT`.
#[derive(Debug)]
pub struct MemoryLimiter {
  pub memory_limit: u64,
  pub table_limit: u64,
  pub total: u64,
  pub peak: u64,
  pub refused: Option<String>,
  budget: Arc<MemoryBudget>,
}

impl MemoryLimiter {
  pub fn new(memory_limit: u64, table_limit: u64, budget: Arc<MemoryBudget>) -> Self {
    MemoryLimiter {
      memory_limit,
      table_limit,
      total: 0,
      peak: 0,
      refused: None,
      budget,
    }
  }
}

impl Drop for MemoryLimiter {
  fn drop(&mut self) {
    self.budget.release(self.total);
  }
}

impl ResourceLimiter for MemoryLimiter {
  fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
    // Growth the memory's own maximum forbids fails in Wasmtime after this approval; refuse it
    // here so that nothing is counted for it (it is the guest's own limit, not ours: no note).
    if maximum.is_some_and(|max| desired > max) {
      return Ok(false);
    }
    let growth = desired.saturating_sub(current) as u64;
    // Checked: a memory64 guest can ask for nearly 2^64 bytes.
    let after = self
      .total
      .checked_add(growth)
      .filter(|after| *after <= self.memory_limit);
    let Some(after) = after else {
      self.refused = Some(format!(
        "growing linear memory from {current} to {desired} bytes would bring the instance to {} bytes, above limits.memoryBytes = {}",
        self.total.saturating_add(growth),
        self.memory_limit
      ));
      return Ok(false);
    };
    if let Err(used) = self.budget.reserve(growth) {
      self.refused = Some(format!(
        "growing linear memory from {current} to {desired} bytes would bring this runtime's guests to {} bytes together, above maxTotalMemoryBytes = {}",
        used.saturating_add(growth),
        self.budget.limit().unwrap_or_default()
      ));
      return Ok(false);
    }
    // If the operating system then refuses the memory, the growth stays counted until the store
    // goes: the budget errs on the strict side.
    self.total = after;
    self.peak = self.peak.max(self.total);
    Ok(true)
  }

  fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
    if desired as u64 > self.table_limit {
      self.refused = Some(format!(
        "growing a table to {desired} elements is above limits.tableElements = {}",
        self.table_limit
      ));
      return Ok(false);
    }
    Ok(true)
  }

  fn instances(&self) -> usize {
    1000
  }

  fn tables(&self) -> usize {
    1000
  }

  fn memories(&self) -> usize {
    100
  }
}

/// The part of a store's data every guest kind shares.
pub struct ExecState {
  pub limiter: MemoryLimiter,
  pub input: Arc<str>,
  pub output: Option<Vec<u8>>,
  pub failure: Option<Vec<u8>>,
  pub last_result: Vec<u8>,
  pub logs: Logs,
  pub host_calls: u64,
  pub deadline: Instant,
  pub stop: Arc<StopSignal>,
  /// Set when a host function had to fail the execution for a reason of its own.
  pub host_fault: Option<ProbeError>,
  pub capabilities: Arc<Capabilities>,
  pub http: HttpContext,
  /// `limits.openFiles`: WASI descriptors the guest may hold open at once.
  pub open_files: u64,
  /// Where the guest's JavaScript-implemented imports are answered.
  pub imports: Option<crate::host::js_imports::ImportScope>,
  /// A synchronous call (`executeProbeSync`): nothing may wait for JavaScript, whose thread
  /// this call holds.
  pub synchronous: bool,
}

impl ExecState {
  /// Fails the call when it is synchronous: `what` would have to wait for JavaScript. Returns
  /// the refusal (already recorded as the call's fault) for the host function to return.
  pub fn refuse_if_synchronous(&mut self, what: &str) -> Option<ProbeError> {
    if !self.synchronous {
      return None;
    }
    let refusal = ProbeError::new(
      ErrorCode::CapabilityDenied,
      format!("Capability not granted: {what} (not available in a synchronous call)"),
    );
    self.host_fault = Some(refusal.clone());
    Some(refusal)
  }

  /// The state of a store about to run `req`, with `deadline` for its (first) call.
  pub fn new(req: &crate::exec::ExecRequest, logs: Logs, deadline: Instant) -> ExecState {
    ExecState {
      limiter: MemoryLimiter::new(req.limits.memory_bytes, req.limits.table_elements, req.budget.clone()),
      input: req.input.clone(),
      output: None,
      failure: None,
      last_result: Vec::new(),
      logs,
      host_calls: 0,
      deadline,
      stop: req.stop.clone(),
      host_fault: None,
      capabilities: req.capabilities.clone(),
      http: HttpContext {
        grant: req.capabilities.http.clone(),
        transport: req.transport.clone(),
        deadline,
        synchronous: req.synchronous,
      },
      open_files: req.limits.open_files,
      imports: req.imports.clone(),
      synchronous: req.synchronous,
    }
  }

  /// The reason to stop the guest now, if any: an outside stop, or the deadline.
  pub fn stop_reason(&self) -> Option<StopReason> {
    self.stop.reason().or_else(|| {
      if Instant::now() >= self.deadline {
        self.stop.stop(StopReason::Timeout);
        Some(StopReason::Timeout)
      } else {
        None
      }
    })
  }
}

pub trait HasExec: Send + 'static {
  fn exec(&mut self) -> &mut ExecState;
}

/// A WASI context with exactly what was granted: clocks and random always; stdout/stderr into the
/// log book; stdin empty; env, args and preopens only as granted; no network.
pub fn wasi_builder(exec: &ExecState) -> Result<WasiCtxBuilder, ProbeError> {
  let caps = &exec.capabilities;
  let mut builder = WasiCtxBuilder::new();
  builder
    .stdout(exec.logs.stream(Source::Stdout))
    .stderr(exec.logs.stream(Source::Stderr))
    .allow_tcp(false)
    .allow_udp(false)
    .allow_ip_name_lookup(false);
  for (key, value) in &caps.env {
    builder.env(key, value);
  }
  builder.args(&caps.args);
  if let Some(preopens) = &caps.preopens {
    for p in preopens {
      let perms = if p.readonly {
        wasmtime_wasi::FsPerms::ReadOnly
      } else {
        wasmtime_wasi::FsPerms::ReadWrite
      };
      builder.preopened_dir(&p.host_path, &p.guest_path, perms).map_err(|e| {
        ProbeError::invalid_value(
          "capabilities.fs.preopens",
          format!("cannot open {}: {e}", p.host_path.display()),
        )
      })?;
    }
  }
  Ok(builder)
}

/// Store data of a core module.
pub struct CoreState {
  pub exec: ExecState,
  pub wasi: WasiP1Ctx,
}

impl HasExec for CoreState {
  fn exec(&mut self) -> &mut ExecState {
    &mut self.exec
  }
}

/// Store data of a component.
pub struct ComponentState {
  pub exec: ExecState,
  pub wasi: WasiCtx,
  pub table: ResourceTable,
  pub http: WasiHttpCtx,
  pub http_hooks: crate::host::wasi_http::MediatedHttp,
}

impl HasExec for ComponentState {
  fn exec(&mut self) -> &mut ExecState {
    &mut self.exec
  }
}

impl WasiView for ComponentState {
  fn ctx(&mut self) -> WasiCtxView<'_> {
    WasiCtxView {
      ctx: &mut self.wasi,
      table: &mut self.table,
    }
  }
}

impl WasiHttpView for ComponentState {
  fn http(&mut self) -> WasiHttpCtxView<'_> {
    WasiHttpCtxView {
      ctx: &mut self.http,
      table: &mut self.table,
      hooks: &mut self.http_hooks,
    }
  }
}
