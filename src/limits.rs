//! Resource limits: the contract's defaults and allowed ranges, and their validation.

use crate::error::ProbeError;
use std::time::Duration;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;

pub const MEMORY_MIN: u64 = 64 * KIB;
pub const MEMORY_MAX: u64 = 4 * GIB;
pub const STACK_MIN: u64 = 64 * KIB;
pub const STACK_MAX: u64 = 8 * MIB;
pub const TABLE_MAX: u64 = 100_000;
pub const OPEN_FILES_MAX: u64 = 100_000;
/// The largest integer a JavaScript number holds exactly.
pub const FUEL_MAX: u64 = (1 << 53) - 1;
/// The longest timeout Node's own timers accept.
pub const TIMEOUT_MAX_MS: f64 = 2_147_483_647.0;

/// Limits as a caller wrote them: every field optional, numbers as JavaScript gave them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitsPatch {
  pub memory_bytes: Option<f64>,
  pub stack_bytes: Option<f64>,
  pub table_elements: Option<f64>,
  pub fuel: Option<f64>,
  pub timeout_ms: Option<f64>,
  pub open_files: Option<f64>,
}

/// Limits in force for one execution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
  pub memory_bytes: u64,
  pub stack_bytes: u64,
  pub table_elements: u64,
  pub fuel: Option<u64>,
  pub timeout: Duration,
  pub open_files: u64,
  /// The option that set `timeout`, named when it stops an execution: `limits.timeoutMs`, or
  /// `options.timeoutMs` for the deadline of a synchronous call.
  pub timeout_option: &'static str,
}

impl Default for Limits {
  fn default() -> Self {
    Limits {
      memory_bytes: 16 * MIB,
      stack_bytes: MIB,
      table_elements: 10_000,
      fuel: None,
      timeout: Duration::from_secs(30),
      open_files: 100,
      timeout_option: "limits.timeoutMs",
    }
  }
}

fn whole_number_in(option: &str, value: f64, min: u64, max: u64) -> Result<u64, ProbeError> {
  if !value.is_finite() || value.fract() != 0.0 {
    return Err(ProbeError::invalid_value(
      option,
      format!("must be a whole number, received {value}"),
    ));
  }
  if value < min as f64 || value > max as f64 {
    return Err(ProbeError::invalid_value(
      option,
      format!("must be between {min} and {max}, received {value}"),
    ));
  }
  Ok(value as u64)
}

impl Limits {
  /// These limits with `patch` applied on top; `prefix` names where the patch came from
  /// (`limits` or `options.limits`) so that an error names the exact option.
  pub fn patched(&self, patch: &LimitsPatch, prefix: &str) -> Result<Limits, ProbeError> {
    let name = |field: &str| format!("{prefix}.{field}");
    let mut out = *self;
    if let Some(v) = patch.memory_bytes {
      out.memory_bytes = whole_number_in(&name("memoryBytes"), v, MEMORY_MIN, MEMORY_MAX)?;
    }
    if let Some(v) = patch.stack_bytes {
      out.stack_bytes = whole_number_in(&name("stackBytes"), v, STACK_MIN, STACK_MAX)?;
    }
    if let Some(v) = patch.table_elements {
      out.table_elements = whole_number_in(&name("tableElements"), v, 0, TABLE_MAX)?;
    }
    if let Some(v) = patch.fuel {
      out.fuel = Some(whole_number_in(&name("fuel"), v, 1, FUEL_MAX)?);
    }
    if let Some(v) = patch.open_files {
      out.open_files = whole_number_in(&name("openFiles"), v, 0, OPEN_FILES_MAX)?;
    }
    if let Some(v) = patch.timeout_ms {
      if !v.is_finite() || v <= 0.0 || v > TIMEOUT_MAX_MS {
        return Err(ProbeError::invalid_value(
          &name("timeoutMs"),
          format!("must be a number of milliseconds above 0 and at most {TIMEOUT_MAX_MS}, received {v}"),
        ));
      }
      out.timeout = Duration::from_secs_f64(v / 1000.0);
    }
    Ok(out)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::error::ErrorCode;

  #[test]
  fn defaults_match_the_contract() {
    let d = Limits::default();
    assert_eq!(d.memory_bytes, 16 * MIB);
    assert_eq!(d.stack_bytes, MIB);
    assert_eq!(d.table_elements, 10_000);
    assert_eq!(d.fuel, None);
    assert_eq!(d.timeout, Duration::from_secs(30));
    assert_eq!(d.open_files, 100);
  }

  #[test]
  fn patch_applies_and_validates() {
    let base = Limits::default();
    let p = LimitsPatch {
      memory_bytes: Some(65536.0),
      fuel: Some(1000.0),
      timeout_ms: Some(200.0),
      ..Default::default()
    };
    let l = base.patched(&p, "limits").unwrap();
    assert_eq!(l.memory_bytes, 65536);
    assert_eq!(l.fuel, Some(1000));
    assert_eq!(l.timeout, Duration::from_millis(200));

    for (patch, option) in [
      (
        LimitsPatch {
          memory_bytes: Some(5.0 * GIB as f64),
          ..Default::default()
        },
        "limits.memoryBytes",
      ),
      (
        LimitsPatch {
          stack_bytes: Some(1024.0),
          ..Default::default()
        },
        "limits.stackBytes",
      ),
      (
        LimitsPatch {
          table_elements: Some(100_001.0),
          ..Default::default()
        },
        "limits.tableElements",
      ),
      (
        LimitsPatch {
          timeout_ms: Some(-1.0),
          ..Default::default()
        },
        "limits.timeoutMs",
      ),
      (
        LimitsPatch {
          fuel: Some(0.5),
          ..Default::default()
        },
        "limits.fuel",
      ),
    ] {
      let err = base.patched(&patch, "limits").unwrap_err();
      assert_eq!(err.code, ErrorCode::InvalidArgValue);
      assert!(err.message.contains(option), "{} should name {option}", err.message);
    }
  }
}
