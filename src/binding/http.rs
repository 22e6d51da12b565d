//! The Node side of guest HTTP: the runtime's JavaScript handler (the user's `http` option or
//! `globalThis.fetch`, wrapped by index.js) called through a threadsafe function. It always
//! resolves with a `NativeHttpResponse`; the JavaScript wrapper turns throws and aborts into
//! `error` answers, and a broken answer becomes `failed` here, never a crash.

use crate::host::http::{FetchError, HttpResponse, HttpTransport, TransportFuture, TransportRequest};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use std::sync::Arc;

/// One request hop as the JavaScript handler receives it.
#[napi(object)]
pub struct NativeHttpRequest {
  pub method: String,
  pub url: String,
  pub headers: Vec<Vec<String>>,
  pub body: Option<Buffer>,
  pub timeout_ms: f64,
  pub max_response_bytes: f64,
}

/// What the JavaScript handler answers: a response, or `error` ('timeout' | 'too-large' | 'failed').
#[napi(object)]
pub struct NativeHttpResponse {
  pub status: Option<u32>,
  pub headers: Option<Vec<Vec<String>>>,
  pub body: Option<Uint8Array>,
  pub error: Option<String>,
  pub message: Option<String>,
}

pub type HttpHandler =
  ThreadsafeFunction<NativeHttpRequest, Promise<NativeHttpResponse>, NativeHttpRequest, Status, false, true>;

pub struct JsTransport(pub Arc<HttpHandler>);

fn pairs(list: Vec<Vec<String>>) -> Vec<(String, String)> {
  list
    .into_iter()
    .filter_map(|mut kv| {
      if kv.len() == 2 {
        let v = kv.pop()?;
        let k = kv.pop()?;
        Some((k, v))
      } else {
        None
      }
    })
    .collect()
}

impl HttpTransport for JsTransport {
  fn send(&self, request: TransportRequest) -> TransportFuture {
    let handler = self.0.clone();
    Box::pin(async move {
      let call = NativeHttpRequest {
        method: request.method,
        url: request.url,
        headers: request.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
        body: request.body.map(Buffer::from),
        timeout_ms: request.timeout_ms,
        max_response_bytes: request.max_response_bytes as f64,
      };
      let failed = |e: Error| FetchError::Failed(format!("the http handler failed: {}", e.reason));
      let answer = handler
        .call_async_catch(call)
        .await
        .map_err(failed)?
        .await
        .map_err(failed)?;
      match answer.error.as_deref() {
        Some("timeout") => return Err(FetchError::Timeout),
        Some("too-large") => return Err(FetchError::TooLarge),
        Some(_) => {
          return Err(FetchError::Failed(
            answer.message.unwrap_or_else(|| "the request failed".into()),
          ));
        }
        None => {}
      }
      let status = answer
        .status
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| FetchError::Failed("the http handler answered without a valid status".into()))?;
      Ok(HttpResponse {
        status: status as u16,
        headers: pairs(answer.headers.unwrap_or_default()),
        body: answer.body.map(|b| b.to_vec()).unwrap_or_default(),
      })
    })
  }
}
