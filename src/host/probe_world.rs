//! The component ABI: the `probe:runtime@0.1.0` WIT package in `wit/` (contract section 2a),
//! implemented on the execution context.

use crate::host::context::{ExecState, HasExec};
use crate::host::http::{FetchError, HttpRequest};
use crate::host::log::Source;
use crate::host::{clock, json};

wasmtime::component::bindgen!({
  path: "wit",
  world: "probe",
  imports: {
    "probe:runtime/http.fetch": async,
    default: trappable,
  },
});

use probe::runtime::{clock as wit_clock, events as wit_events, http as wit_http, json as wit_json, log as wit_log};

impl wit_log::Host for ExecState {
  fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
    self.host_calls += 1;
    let level = match level {
      wit_log::Level::Trace => crate::host::log::Level::Trace,
      wit_log::Level::Debug => crate::host::log::Level::Debug,
      wit_log::Level::Info => crate::host::log::Level::Info,
      wit_log::Level::Warn => crate::host::log::Level::Warn,
      wit_log::Level::Error => crate::host::log::Level::Error,
    };
    self.logs.book().push(level, Source::Guest, message.as_bytes());
    Ok(())
  }
}

impl wit_events::Host for ExecState {
  fn emit(&mut self, name: String, data: String) -> wasmtime::Result<()> {
    self.host_calls += 1;
    self.logs.book().emit(name.as_bytes(), data.as_bytes());
    Ok(())
  }
}

impl wit_json::Host for ExecState {
  fn get(&mut self, document: String, pointer: String) -> wasmtime::Result<Result<Option<String>, String>> {
    self.host_calls += 1;
    Ok(json::get(&document, &pointer).map_err(|e| e.to_string()))
  }
}

impl wit_clock::Host for ExecState {
  fn now_ms(&mut self) -> wasmtime::Result<u64> {
    self.host_calls += 1;
    Ok(clock::now_ms())
  }

  fn monotonic_ns(&mut self) -> wasmtime::Result<u64> {
    self.host_calls += 1;
    Ok(clock::monotonic_ns())
  }
}

fn to_wit(err: FetchError) -> wit_http::Error {
  match err {
    FetchError::Denied(m) => wit_http::Error::Denied(m),
    FetchError::Timeout => wit_http::Error::Timeout,
    FetchError::TooLarge => wit_http::Error::TooLarge,
    FetchError::Failed(m) => wit_http::Error::Failed(m),
  }
}

impl wit_http::Host for ExecState {
  async fn fetch(&mut self, req: wit_http::Request) -> Result<wit_http::Response, wit_http::Error> {
    self.host_calls += 1;
    // The refusal fails the call (`host_fault`) whatever the guest does with this answer.
    if let Some(refusal) = self.refuse_if_synchronous("http") {
      return Err(wit_http::Error::Denied(refusal.message));
    }
    let http = self.http.clone();
    let response = http
      .fetch(HttpRequest {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: req.body,
        timeout_ms: req.timeout_ms.map(u64::from),
      })
      .await
      .map_err(to_wit)?;
    Ok(wit_http::Response {
      status: response.status,
      headers: response.headers,
      body: response.body,
    })
  }
}

/// Adds the `probe:runtime` interfaces to `linker`, over any store data that lends the
/// execution context.
pub fn add_to_linker<T: HasExec>(linker: &mut wasmtime::component::Linker<T>) -> wasmtime::Result<()> {
  Probe::add_to_linker::<T, wasmtime::component::HasSelf<ExecState>>(linker, |s| s.exec())
}
