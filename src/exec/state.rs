//! The store state of each guest kind: the shared execution context every host function sees
//! (`host::context::ExecState`) composed with the WASI contexts of a core module or a component.

use crate::error::ProbeError;
use crate::exec::ExecRequest;
use crate::host::context::{ExecState, HasExec};
use crate::host::http::HttpContext;
use crate::host::log::{Logs, Source};
use crate::host::open_files::CoreFiles;
use crate::memory_limiter::MemoryLimiter;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The state of a store about to run `req`, with `deadline` for its (first) call.
pub fn exec_state(req: &ExecRequest, logs: Logs, deadline: Instant) -> ExecState {
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
    script: req.script.clone(),
    synchronous: req.synchronous,
  }
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

impl CoreFiles for CoreState {
  fn wasi_p1(&mut self) -> &mut WasiP1Ctx {
    &mut self.wasi
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
