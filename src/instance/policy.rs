//! An instance's crash policy (`RestartPolicy`: back-off, window, escalation of timeouts), its
//! states and what a state listener hears.

use crate::error::{ErrorCode, ProbeError};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartPolicy {
  /// Crashes within `window` that disable the instance.
  pub max_failures: u32,
  pub window: Duration,
  /// Wait before the first rebuild after a crash; doubles per consecutive crash.
  pub backoff: Duration,
  pub max_backoff: Duration,
  /// Timeouts within `window` that disable the instance (1: warning, 2: terminated, 3: disabled).
  pub max_timeouts: u32,
}

/// A restart policy as a caller wrote it (numbers as JavaScript gave them).
#[derive(Debug, Clone, Default)]
pub struct RestartPolicyPatch {
  pub max_failures: Option<f64>,
  pub window_ms: Option<f64>,
  pub backoff_ms: Option<f64>,
  pub max_backoff_ms: Option<f64>,
  pub max_timeouts: Option<f64>,
}

impl RestartPolicy {
  pub fn from_patch(patch: &RestartPolicyPatch) -> Result<RestartPolicy, ProbeError> {
    let mut p = RestartPolicy::default();
    let count = |name: &str, v: f64| {
      if v.fract() == 0.0 && (1.0..=1000.0).contains(&v) {
        Ok(v as u32)
      } else {
        Err(ProbeError::invalid_value(
          &format!("options.restart.{name}"),
          format!("must be a whole number from 1 to 1000, received {v}"),
        ))
      }
    };
    let millis = |name: &str, v: f64| {
      if v.is_finite() && (0.0..=86_400_000.0).contains(&v) {
        Ok(Duration::from_secs_f64(v / 1000.0))
      } else {
        Err(ProbeError::invalid_value(
          &format!("options.restart.{name}"),
          format!("must be a number of milliseconds from 0 to 86400000, received {v}"),
        ))
      }
    };
    if let Some(v) = patch.max_failures {
      p.max_failures = count("maxFailures", v)?;
    }
    if let Some(v) = patch.max_timeouts {
      p.max_timeouts = count("maxTimeouts", v)?;
    }
    if let Some(v) = patch.window_ms {
      p.window = millis("windowMs", v)?;
    }
    if let Some(v) = patch.backoff_ms {
      p.backoff = millis("backoffMs", v)?;
    }
    if let Some(v) = patch.max_backoff_ms {
      p.max_backoff = millis("maxBackoffMs", v)?;
    }
    Ok(p)
  }
}

impl Default for RestartPolicy {
  fn default() -> Self {
    RestartPolicy {
      max_failures: 5,
      window: Duration::from_secs(60),
      backoff: Duration::from_millis(100),
      max_backoff: Duration::from_secs(5),
      max_timeouts: 3,
    }
  }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
  Ready,
  Busy,
  Restarting,
  Disabled,
  Disposed,
}

impl InstanceState {
  pub fn as_str(self) -> &'static str {
    match self {
      InstanceState::Ready => "ready",
      InstanceState::Busy => "busy",
      InstanceState::Restarting => "restarting",
      InstanceState::Disabled => "disabled",
      InstanceState::Disposed => "disposed",
    }
  }
}

/// A transition, with why it happened. Ready ⇄ busy around every call is not reported (read
/// `state` for it); everything else is.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
  pub state: InstanceState,
  pub previous: InstanceState,
  pub reason: String,
  pub code: Option<ErrorCode>,
}

pub type StateListener = Arc<dyn Fn(&StateChange) + Send + Sync>;
