//! `wasi:http/outgoing-handler` for components: every request goes through the same policy and
//! Node bridge as `probe:runtime/http` (see `http.rs`). wasmtime-wasi-http is built without its
//! default sender, so this hook is the only way out.

use crate::host::http::{FetchError, HttpContext, HttpRequest};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::future::Future;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

pub struct MediatedHttp(pub HttpContext);

type SendResult = wasmtime_wasi_http::Result<(
  http::Response<WasiBody>,
  Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

fn to_wasi(err: FetchError) -> Error {
  match err {
    FetchError::Denied(_) => Error::HttpRequestDenied,
    FetchError::Timeout => Error::ConnectionTimeout,
    FetchError::TooLarge => Error::HttpResponseBodySize(None),
    FetchError::Failed(message) => Error::InternalError(Some(message)),
  }
}

impl WasiHttpHooks for MediatedHttp {
  fn send_request(
    &mut self,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
  ) -> Box<dyn Future<Output = SendResult> + Send> {
    let ctx = self.0.clone();
    Box::new(async move {
      let (parts, body) = request.into_parts();
      let body = body.collect().await?.to_bytes();
      let headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
      // The guest's first-byte timeout bounds the whole exchange; the bridge adds its own limits.
      let timeout_ms = options
        .and_then(|o| o.first_byte_timeout.or(o.connect_timeout))
        .map(|d| d.as_millis() as u64);
      let answer = ctx
        .fetch(HttpRequest {
          method: parts.method.to_string(),
          url: parts.uri.to_string(),
          headers,
          body: (!body.is_empty()).then(|| body.to_vec()),
          timeout_ms,
        })
        .await
        .map_err(to_wasi)?;
      let mut response = http::Response::builder().status(answer.status);
      for (name, value) in &answer.headers {
        response = response.header(name, value);
      }
      let body = Full::new(Bytes::from(answer.body))
        .map_err(|never| match never {})
        .boxed_unsync();
      let response = response
        .body(body)
        .map_err(|e| Error::InternalError(Some(format!("invalid response from the HTTP handler: {e}"))))?;
      Ok((
        response,
        Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
      ))
    })
  }
}
