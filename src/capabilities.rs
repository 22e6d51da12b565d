//! What an execution is granted. Nothing is granted by default.

use crate::error::ProbeError;
use crate::host::http::{AllowEntry, HttpGrant};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Preopen {
  pub host_path: PathBuf,
  pub guest_path: String,
  pub readonly: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Capabilities {
  pub http: Option<Arc<HttpGrant>>,
  pub preopens: Option<Vec<Preopen>>,
  pub env: Vec<(String, String)>,
  pub args: Vec<String>,
}

/// Capabilities as a caller wrote them (types already checked by the binding).
#[derive(Debug, Clone, Default)]
pub struct CapabilitiesPatch {
  pub http_allow: Option<Vec<String>>,
  pub http_max_concurrent: Option<f64>,
  pub http_max_response_bytes: Option<f64>,
  pub http_timeout_ms: Option<f64>,
  /// Who the execution is (its `label`), told to the transport with each request.
  pub http_label: Option<String>,
  pub preopens: Option<Vec<(String, String, bool)>>,
  pub env: Vec<(String, String)>,
  pub args: Vec<String>,
}

pub const HTTP_DEFAULT_MAX_CONCURRENT: u32 = 10;
pub const HTTP_DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

impl Capabilities {
  pub fn from_patch(patch: CapabilitiesPatch) -> Result<Capabilities, ProbeError> {
    let http = match patch.http_allow {
      None => None,
      Some(allow) => {
        let allow = allow
          .iter()
          .map(|entry| AllowEntry::parse(entry))
          .collect::<Result<Vec<_>, _>>()?;
        let max_concurrent = match patch.http_max_concurrent {
          None => HTTP_DEFAULT_MAX_CONCURRENT,
          Some(v) if v.fract() == 0.0 && (1.0..=1000.0).contains(&v) => v as u32,
          Some(v) => {
            return Err(ProbeError::invalid_value(
              "capabilities.http.maxConcurrent",
              format!("must be a whole number from 1 to 1000, received {v}"),
            ));
          }
        };
        let max_response_bytes = match patch.http_max_response_bytes {
          None => HTTP_DEFAULT_MAX_RESPONSE_BYTES,
          Some(v) if v.fract() == 0.0 && (0.0..=(1u64 << 32) as f64).contains(&v) => v as u64,
          Some(v) => {
            return Err(ProbeError::invalid_value(
              "capabilities.http.maxResponseBytes",
              format!("must be a whole number from 0 to 4294967296, received {v}"),
            ));
          }
        };
        if let Some(v) = patch.http_timeout_ms
          && (!v.is_finite() || v <= 0.0 || v > crate::limits::TIMEOUT_MAX_MS)
        {
          return Err(ProbeError::invalid_value(
            "capabilities.http.timeoutMs",
            format!(
              "must be a number of milliseconds above 0 and at most {}, received {v}",
              crate::limits::TIMEOUT_MAX_MS
            ),
          ));
        }
        Some(Arc::new(
          HttpGrant::new(
            allow,
            max_concurrent,
            max_response_bytes,
            patch.http_timeout_ms.map(|ms| Duration::from_secs_f64(ms / 1000.0)),
          )
          .labelled(patch.http_label),
        ))
      }
    };
    let preopens = match patch.preopens {
      None => None,
      Some(list) => {
        let mut out = Vec::with_capacity(list.len());
        for (host_path, guest_path, readonly) in list {
          let host = PathBuf::from(&host_path);
          if !host.is_dir() {
            return Err(ProbeError::invalid_value(
              "capabilities.fs.preopens",
              format!("hostPath {host_path:?} is not an existing directory"),
            ));
          }
          if guest_path.is_empty() {
            return Err(ProbeError::invalid_value(
              "capabilities.fs.preopens",
              "guestPath must not be empty",
            ));
          }
          out.push(Preopen {
            host_path: host,
            guest_path,
            readonly,
          });
        }
        Some(out)
      }
    };
    for (key, _) in &patch.env {
      if key.is_empty() || key.contains('=') || key.contains('\0') {
        return Err(ProbeError::invalid_value(
          "capabilities.env",
          format!("{key:?} is not a valid variable name"),
        ));
      }
    }
    Ok(Capabilities {
      http,
      preopens,
      env: patch.env,
      args: patch.args,
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::error::ErrorCode;

  #[test]
  fn nothing_is_granted_by_default() {
    let caps = Capabilities::from_patch(CapabilitiesPatch::default()).unwrap();
    assert!(caps.http.is_none() && caps.preopens.is_none() && caps.env.is_empty() && caps.args.is_empty());
  }

  #[test]
  fn http_allow_entries_are_origins() {
    let ok = CapabilitiesPatch {
      http_allow: Some(vec!["https://*.example.com".into(), "http://127.0.0.1:8080".into()]),
      ..Default::default()
    };
    let caps = Capabilities::from_patch(ok).unwrap();
    assert_eq!(caps.http.unwrap().max_response_bytes, HTTP_DEFAULT_MAX_RESPONSE_BYTES);
    for bad in [
      "example.com",
      "file:///etc",
      "https://user@example.com",
      "https://a.com/path",
    ] {
      let patch = CapabilitiesPatch {
        http_allow: Some(vec![bad.into()]),
        ..Default::default()
      };
      let err = Capabilities::from_patch(patch).unwrap_err();
      assert_eq!(err.code, ErrorCode::InvalidArgValue, "{bad}");
      assert!(err.message.contains("capabilities.http.allow"));
    }
  }

  #[test]
  fn preopen_must_exist() {
    let patch = CapabilitiesPatch {
      preopens: Some(vec![("/definitely/not/here".into(), "/data".into(), true)]),
      ..Default::default()
    };
    let err = Capabilities::from_patch(patch).unwrap_err();
    assert!(err.message.contains("not an existing directory"));
  }
}
