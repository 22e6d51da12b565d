//! The Node side of guest HTTP: the runtime's JavaScript handler (the user's `http` option or
//! `globalThis.fetch`, wrapped by index.js). A request hop goes to JavaScript as an event on a
//! long-lived threadsafe function, `(id, request)`; the answer comes back through a plain
//! synchronous call, `httpDone(id, response)`, that completes the waiting Rust future. No
//! promise or threadsafe function is created per request.
//!
//! The JavaScript wrapper turns throws and aborts into `error` answers; a broken answer becomes
//! `failed` here, and a hop whose waiter gave up (timeout, cancel) is simply forgotten.

use super::answers::Answers;
use crate::host::http::{FetchError, HttpResponse, HttpTransport, TransportFuture, TransportRequest};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

/// One request hop as the JavaScript handler receives it.
#[napi(object)]
pub struct NativeHttpRequest {
  pub method: String,
  pub url: String,
  pub headers: Vec<Vec<String>>,
  pub body: Option<Buffer>,
  pub timeout_ms: f64,
  pub max_response_bytes: f64,
  pub label: Option<String>,
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

type Answer = std::result::Result<HttpResponse, FetchError>;
pub type HttpRequests =
  ThreadsafeFunction<FnArgs<(f64, NativeHttpRequest)>, (), FnArgs<(f64, NativeHttpRequest)>, Status, false, true>;

pub struct JsTransport {
  requests: HttpRequests,
  answers: Answers<Answer>,
}

fn pairs(list: Vec<Vec<String>>) -> Vec<(String, String)> {
  list
    .into_iter()
    .filter_map(|kv| match <[String; 2]>::try_from(kv) {
      Ok([k, v]) => Some((k, v)),
      Err(_) => None,
    })
    .collect()
}

fn answer_of(response: NativeHttpResponse) -> Answer {
  match response.error.as_deref() {
    Some("timeout") => return Err(FetchError::Timeout),
    Some("too-large") => return Err(FetchError::TooLarge),
    Some(_) => {
      return Err(FetchError::Failed(
        response.message.unwrap_or_else(|| "the request failed".into()),
      ));
    }
    None => {}
  }
  let status = response
    .status
    .filter(|s| (100..=599).contains(s))
    .ok_or_else(|| FetchError::Failed("the http handler answered without a valid status".into()))?;
  Ok(HttpResponse {
    status: status as u16,
    headers: pairs(response.headers.unwrap_or_default()),
    body: response.body.map(|b| b.to_vec()).unwrap_or_default(),
  })
}

impl JsTransport {
  pub fn new(requests: HttpRequests) -> JsTransport {
    JsTransport {
      requests,
      answers: Answers::default(),
    }
  }

  /// JavaScript's answer to hop `id` (on the JS thread).
  pub fn done(&self, id: f64, response: NativeHttpResponse) {
    self.answers.answer(id, answer_of(response));
  }
}

impl HttpTransport for JsTransport {
  fn send(&self, request: TransportRequest) -> TransportFuture {
    let waiting = self.answers.wait();
    let call = NativeHttpRequest {
      method: request.method,
      url: request.url,
      headers: request.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
      body: request.body.map(Buffer::from),
      timeout_ms: request.timeout_ms,
      max_response_bytes: request.max_response_bytes as f64,
      label: request.label,
    };
    let status = self.requests.call(
      (waiting.id as f64, call).into(),
      ThreadsafeFunctionCallMode::NonBlocking,
    );
    Box::pin(async move {
      if status != Status::Ok {
        return Err(FetchError::Failed(format!(
          "the http handler cannot be reached ({status})"
        )));
      }
      waiting
        .received()
        .await
        .unwrap_or_else(|| Err(FetchError::Failed("the http handler went away".into())))
    })
  }
}
