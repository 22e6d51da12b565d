//! Guest HTTP, for both ABIs and for `wasi:http/outgoing-handler`: one path that decides, sends
//! through the Node side, follows redirects and bounds the answer. wasmtime-wasi-http is built
//! without its own sender, so nothing leaves unmediated.
//!
//! Policy: nothing without a grant; scheme, host and port must match an `allow` entry exactly
//! (`*.` matches subdomains only); URLs with user info are refused; every redirect hop is checked
//! before it is contacted. Limits: at most `maxConcurrent` requests of one execution at a time,
//! responses up to `maxResponseBytes`, and each request times out at the smallest of its own
//! timeout, the grant's and what is left of the execution's budget.

use crate::error::ProbeError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
  pub method: String,
  pub url: String,
  pub headers: Vec<(String, String)>,
  pub body: Option<Vec<u8>>,
  pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
  pub status: u16,
  pub headers: Vec<(String, String)>,
  pub body: Vec<u8>,
}

/// One hop as the Node side sends it: no redirects followed, with its own time and size budget.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportRequest {
  pub method: String,
  pub url: String,
  pub headers: Vec<(String, String)>,
  pub body: Option<Vec<u8>>,
  pub timeout_ms: f64,
  pub max_response_bytes: u64,
  /// The label of the execution making the request.
  pub label: Option<String>,
}

pub type TransportFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, FetchError>> + Send>>;

/// Whatever actually performs requests: in the addon, the runtime's JavaScript `http` handler.
pub trait HttpTransport: Send + Sync {
  fn send(&self, request: TransportRequest) -> TransportFuture;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
  Exact(String),
  /// `*.example.com`: any name that ends in `.example.com`, not `example.com` itself.
  Subdomains(String),
}

/// One `capabilities.http.allow` entry: an origin, or a subdomain pattern with scheme and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
  scheme: String,
  host: HostPattern,
  port: u16,
}

impl AllowEntry {
  pub fn parse(entry: &str) -> Result<AllowEntry, ProbeError> {
    let option = "capabilities.http.allow";
    let bad = |why: &str| ProbeError::invalid_value(option, format!("{entry:?} {why}"));
    let Some((scheme, rest)) = entry.split_once("://") else {
      return Err(bad(
        "is not an origin such as https://api.example.com or http://127.0.0.1:8080",
      ));
    };
    if scheme != "http" && scheme != "https" {
      return Err(bad("has a scheme other than http or https"));
    }
    if rest.is_empty() || rest.contains(['/', '@', '?', '#', '\\']) {
      return Err(bad(
        "must be scheme://host[:port] with no path, user info, query or fragment",
      ));
    }
    let (wildcard, rest) = match rest.strip_prefix("*.") {
      Some(r) => (true, r),
      None => (false, rest),
    };
    if rest.contains('*') {
      return Err(bad("may only use a wildcard as its first label (*.example.com)"));
    }
    let url = Url::parse(&format!("{scheme}://{rest}/")).map_err(|e| bad(&format!("is not a valid origin ({e})")))?;
    let host = url.host_str().ok_or_else(|| bad("has no host"))?.to_string();
    let port = url.port_or_known_default().ok_or_else(|| bad("has no port"))?;
    Ok(AllowEntry {
      scheme: scheme.to_string(),
      host: if wildcard {
        HostPattern::Subdomains(host)
      } else {
        HostPattern::Exact(host)
      },
      port,
    })
  }

  fn matches(&self, url: &Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
      return false;
    };
    let host_ok = match &self.host {
      HostPattern::Exact(h) => host == h,
      HostPattern::Subdomains(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
    };
    url.scheme() == self.scheme && port == self.port && host_ok
  }
}

/// The grant of one execution, ready to apply.
#[derive(Debug)]
pub struct HttpGrant {
  pub allow: Vec<AllowEntry>,
  pub max_response_bytes: u64,
  pub timeout: Option<Duration>,
  /// The execution's label, passed to the transport with each hop.
  pub label: Option<String>,
  permits: Arc<tokio::sync::Semaphore>,
}

impl HttpGrant {
  pub fn new(allow: Vec<AllowEntry>, max_concurrent: u32, max_response_bytes: u64, timeout: Option<Duration>) -> Self {
    HttpGrant {
      allow,
      max_response_bytes,
      timeout,
      label: None,
      permits: Arc::new(tokio::sync::Semaphore::new(max_concurrent as usize)),
    }
  }

  /// The same grant, for an execution labelled `label`.
  pub fn labelled(mut self, label: Option<String>) -> Self {
    self.label = label;
    self
  }
}

/// Everything the HTTP path of one execution needs.
#[derive(Clone)]
pub struct HttpContext {
  pub grant: Option<Arc<HttpGrant>>,
  pub transport: Option<Arc<dyn HttpTransport>>,
  pub deadline: Instant,
  /// In a synchronous call no request is made: the answer would come from JavaScript.
  pub synchronous: bool,
}

const MAX_REDIRECTS: usize = 5;

fn checked_url(grant: &HttpGrant, raw: &str) -> Result<Url, FetchError> {
  let url = Url::parse(raw).map_err(|e| {
    FetchError::Denied(format!(
      "Capability not granted: http for {raw:?}: not a valid URL ({e})"
    ))
  })?;
  if url.scheme() != "http" && url.scheme() != "https" {
    return Err(FetchError::Denied(format!(
      "Capability not granted: http for {raw}: only http and https URLs can be granted"
    )));
  }
  if !url.username().is_empty() || url.password().is_some() {
    return Err(FetchError::Denied(format!(
      "Capability not granted: http for {raw}: URLs with user info are refused"
    )));
  }
  if !grant.allow.iter().any(|entry| entry.matches(&url)) {
    let origin = url.origin().ascii_serialization();
    return Err(FetchError::Denied(format!(
      "Capability not granted: http for {origin}: not in capabilities.http.allow"
    )));
  }
  Ok(url)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
  headers
    .iter()
    .find(|(k, _)| k.eq_ignore_ascii_case(name))
    .map(|(_, v)| v.as_str())
}

impl HttpContext {
  /// Decides, sends and follows redirects for one guest request.
  pub async fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
    if self.synchronous {
      return Err(FetchError::Denied(
        "Capability not granted: http (not available in a synchronous call)".into(),
      ));
    }
    let Some(grant) = &self.grant else {
      return Err(FetchError::Denied(format!(
        "Capability not granted: http (request to {})",
        request.url
      )));
    };
    let mut url = checked_url(grant, &request.url)?;
    let Some(transport) = &self.transport else {
      return Err(FetchError::Failed("no HTTP handler is configured".into()));
    };
    let _permit = grant
      .permits
      .clone()
      .acquire_owned()
      .await
      .map_err(|_| FetchError::Failed("the HTTP limiter was closed".into()))?;
    let own_timeout = request.timeout_ms.map(Duration::from_millis);
    let timeout_at = [own_timeout, grant.timeout]
      .into_iter()
      .flatten()
      // A guest may ask for any u64 of milliseconds: past the far future it is no bound at all.
      .filter_map(|t| Instant::now().checked_add(t))
      .fold(self.deadline, Instant::min);
    let mut method = request.method;
    let mut body = request.body;
    let headers = request.headers;
    for _ in 0..=MAX_REDIRECTS {
      let left = timeout_at.saturating_duration_since(Instant::now());
      if left.is_zero() {
        return Err(FetchError::Timeout);
      }
      let hop = TransportRequest {
        method: method.clone(),
        url: url.to_string(),
        headers: headers.clone(),
        body: body.clone(),
        timeout_ms: left.as_secs_f64() * 1000.0,
        max_response_bytes: grant.max_response_bytes,
        label: grant.label.clone(),
      };
      let response = match tokio::time::timeout(left, transport.send(hop)).await {
        Err(_) => return Err(FetchError::Timeout),
        Ok(r) => r?,
      };
      if response.body.len() as u64 > grant.max_response_bytes {
        return Err(FetchError::TooLarge);
      }
      let location = match response.status {
        301 | 302 | 303 | 307 | 308 => header(&response.headers, "location"),
        _ => None,
      };
      let Some(location) = location else {
        return Ok(response);
      };
      let next = url
        .join(location)
        .map_err(|e| FetchError::Failed(format!("redirect to an invalid location {location:?}: {e}")))?;
      url = checked_url(grant, next.as_str()).map_err(|e| match e {
        FetchError::Denied(m) => FetchError::Denied(format!("redirect refused: {m}")),
        other => other,
      })?;
      // As fetch does: 303 becomes GET, and so do 301/302 after a POST.
      if response.status == 303 || (matches!(response.status, 301 | 302) && method == "POST") {
        method = "GET".into();
        body = None;
      }
    }
    Err(FetchError::Failed(format!("more than {MAX_REDIRECTS} redirects")))
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::Mutex;

  fn grant(entries: &[&str]) -> HttpGrant {
    HttpGrant::new(
      entries.iter().map(|e| AllowEntry::parse(e).unwrap()).collect(),
      10,
      1024,
      None,
    )
  }

  #[test]
  fn allow_entries_match_scheme_host_and_port_exactly() {
    let g = grant(&["http://127.0.0.1:8080", "https://*.example.com", "https://api.test"]);
    let ok = |u: &str| checked_url(&g, u).is_ok();
    assert!(ok("http://127.0.0.1:8080/x?y=1"));
    assert!(!ok("http://127.0.0.1:8081/"), "other port");
    assert!(!ok("https://127.0.0.1:8080/"), "other scheme");
    assert!(!ok("http://localhost:8080/"), "localhost is not 127.0.0.1");
    assert!(ok("https://a.example.com/"));
    assert!(ok("https://a.b.example.com/"));
    assert!(!ok("https://example.com/"), "the wildcard is for subdomains only");
    assert!(!ok("https://badexample.com/"));
    assert!(!ok("https://a.example.com.evil.net/"));
    assert!(ok("https://api.test:443/"), "default port");
    assert!(!ok("https://user:pw@api.test/"), "user info");
    assert!(!ok("file:///etc/passwd"));
    let e = checked_url(&g, "https://api.test@evil.net/").unwrap_err();
    assert!(e.message().contains("user info"), "{e:?}");
  }

  #[test]
  fn bad_allow_entries_are_named() {
    for bad in [
      "example.com",
      "ftp://x",
      "https://a.com/path",
      "https://u@a.com",
      "https://a.*.com",
      "https://",
    ] {
      let e = AllowEntry::parse(bad).unwrap_err();
      assert!(e.message.contains("capabilities.http.allow"), "{bad}: {}", e.message);
    }
  }

  struct Script(Mutex<Vec<(String, HttpResponse)>>);

  impl HttpTransport for Script {
    fn send(&self, request: TransportRequest) -> TransportFuture {
      let mut script = self.0.lock().unwrap();
      let at = script.iter().position(|(url, _)| *url == request.url);
      let found = at.map(|i| script.remove(i).1);
      Box::pin(async move { found.ok_or_else(|| FetchError::Failed(format!("unexpected request to {}", request.url))) })
    }
  }

  fn redirect(to: &str) -> HttpResponse {
    HttpResponse {
      status: 302,
      headers: vec![("Location".into(), to.into())],
      body: Vec::new(),
    }
  }

  fn ok(body: &str) -> HttpResponse {
    HttpResponse {
      status: 200,
      headers: Vec::new(),
      body: body.as_bytes().to_vec(),
    }
  }

  fn context(entries: &[&str], script: Vec<(&str, HttpResponse)>) -> HttpContext {
    HttpContext {
      grant: Some(Arc::new(grant(entries))),
      transport: Some(Arc::new(Script(Mutex::new(
        script.into_iter().map(|(u, r)| (u.to_string(), r)).collect(),
      )))),
      deadline: Instant::now() + Duration::from_secs(5),
      synchronous: false,
    }
  }

  fn get(url: &str) -> HttpRequest {
    HttpRequest {
      method: "GET".into(),
      url: url.into(),
      headers: Vec::new(),
      body: None,
      timeout_ms: None,
    }
  }

  #[tokio::test]
  async fn redirects_are_followed_only_where_allowed() {
    let ctx = context(
      &["http://a.test"],
      vec![
        ("http://a.test/one", redirect("/two")),
        ("http://a.test/two", ok("done")),
      ],
    );
    assert_eq!(ctx.fetch(get("http://a.test/one")).await.unwrap().body, b"done");

    // The disallowed hop is never sent: the script has no entry for it, which would fail.
    let ctx = context(
      &["http://a.test"],
      vec![("http://a.test/one", redirect("http://b.test/secret"))],
    );
    let e = ctx.fetch(get("http://a.test/one")).await.unwrap_err();
    assert_eq!(e.kind(), "denied");
    assert!(e.message().starts_with("redirect refused"), "{e:?}");
  }

  #[tokio::test]
  async fn size_cap_and_no_grant() {
    let ctx = context(&["http://a.test"], vec![("http://a.test/big", ok(&"x".repeat(2048)))]);
    assert_eq!(
      ctx.fetch(get("http://a.test/big")).await.unwrap_err(),
      FetchError::TooLarge
    );
    let none = HttpContext {
      grant: None,
      transport: None,
      deadline: Instant::now(),
      synchronous: false,
    };
    let e = none.fetch(get("http://a.test/")).await.unwrap_err();
    assert!(e.message().starts_with("Capability not granted: http"));
  }
}
