//! Guest HTTP, for both ABIs and for `wasi:http/outgoing-handler`. Every request is decided here
//! first; wasmtime-wasi-http is built without its own sender, so nothing leaves unmediated.
//!
//! This build answers every request with `denied`: without a grant as the contract says
//! (`Capability not granted: http`), and with one because the bridge to Node's `fetch` is not in
//! this build yet.

use crate::capabilities::Capabilities;
use std::future::Future;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// How a guest request failed, as the guest is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
  Denied(String),
  Timeout,
  TooLarge,
  Failed(String),
}

impl FetchError {
  pub fn kind(&self) -> &'static str {
    match self {
      FetchError::Denied(_) => "denied",
      FetchError::Timeout => "timeout",
      FetchError::TooLarge => "too-large",
      FetchError::Failed(_) => "failed",
    }
  }

  pub fn message(&self) -> String {
    match self {
      FetchError::Denied(m) | FetchError::Failed(m) => m.clone(),
      FetchError::Timeout => "the request timed out".into(),
      FetchError::TooLarge => "the response is larger than capabilities.http.maxResponseBytes".into(),
    }
  }
}

/// The policy decision for a request to `url`.
pub fn decide(capabilities: &Capabilities, url: &str) -> Result<(), FetchError> {
  match &capabilities.http {
    None => Err(FetchError::Denied(format!(
      "Capability not granted: http (request to {url})"
    ))),
    Some(_) => Err(FetchError::Denied(format!(
      "Capability not available: http (request to {url}): this build of wasm-probe-runtime has no HTTP bridge yet"
    ))),
  }
}

/// The `wasi:http` hooks of a component's store: every outgoing request is refused.
pub struct MediatedHttp;

type SendResult = wasmtime_wasi_http::Result<(
  http::Response<WasiBody>,
  Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for MediatedHttp {
  fn send_request(
    &mut self,
    _request: http::Request<WasiBody>,
    _options: Option<RequestOptions>,
    _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
  ) -> Box<dyn Future<Output = SendResult> + Send> {
    Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::capabilities::HttpGrant;

  #[test]
  fn no_grant_is_denied_with_the_contract_message() {
    let err = decide(&Capabilities::default(), "http://127.0.0.1:1/").unwrap_err();
    assert_eq!(err.kind(), "denied");
    assert!(err.message().starts_with("Capability not granted: http"));
  }

  #[test]
  fn granted_is_still_denied_without_the_bridge() {
    let caps = Capabilities {
      http: Some(HttpGrant {
        allow: vec!["http://127.0.0.1:1".into()],
        ..Default::default()
      }),
      ..Default::default()
    };
    assert_eq!(decide(&caps, "http://127.0.0.1:1/").unwrap_err().kind(), "denied");
  }
}
