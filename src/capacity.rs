//! What a runtime accepts at once: live long-lived instances, executions waiting to start, and
//! the linear memory of all its guests together. Past a count ceiling a call is refused at once
//! with `ERR_WASM_BUSY` (nothing ran); past the memory budget growth is refused like a
//! per-instance memory limit.

use crate::error::{ErrorCode, ProbeError};
use crate::limits::{FUEL_MAX, MEMORY_MIN};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub const DEFAULT_MAX_INSTANCES: usize = 1000;
pub const DEFAULT_MAX_QUEUED: usize = 10_000;
const COUNT_MAX: usize = 10_000_000;

/// The runtime options of this module as JavaScript gave them.
#[derive(Debug, Clone, Copy, Default)]
pub struct CapacityOptions {
  pub max_instances: Option<f64>,
  pub max_queued: Option<f64>,
  pub max_total_memory_bytes: Option<f64>,
}

fn whole(option: &str, value: f64, min: f64, max: f64) -> Result<f64, ProbeError> {
  if value.is_finite() && value.fract() == 0.0 && (min..=max).contains(&value) {
    Ok(value)
  } else {
    Err(ProbeError::invalid_value(
      option,
      format!("must be a whole number from {min} to {max}, received {value}"),
    ))
  }
}

/// A count of things in some state, with a ceiling a new one may not pass.
pub struct Gauge {
  count: AtomicUsize,
  max: usize,
}

impl Gauge {
  fn new(max: usize) -> Arc<Gauge> {
    Arc::new(Gauge {
      count: AtomicUsize::new(0),
      max,
    })
  }

  /// Counts one more unless that would pass the ceiling; the guard counts it down on drop.
  pub fn try_enter(self: &Arc<Self>) -> Option<GaugeGuard> {
    self
      .count
      .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1))
      .ok()
      .map(|_| GaugeGuard(self.clone()))
  }

  /// [`Gauge::try_enter`], or `ERR_WASM_BUSY` with `refusal(count, ceiling)` as its message.
  fn enter(self: &Arc<Self>, refusal: impl FnOnce(usize, usize) -> String) -> Result<GaugeGuard, ProbeError> {
    self
      .try_enter()
      .ok_or_else(|| ProbeError::new(ErrorCode::Busy, refusal(self.get(), self.max)))
  }

  pub fn get(&self) -> usize {
    self.count.load(Ordering::Acquire)
  }
}

/// One counted thing; dropping it counts it out.
pub struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
  fn drop(&mut self) {
    self.0.count.fetch_sub(1, Ordering::AcqRel);
  }
}

/// The linear memory all of a runtime's live guests hold, against an optional ceiling.
#[derive(Debug)]
pub struct MemoryBudget {
  limit: Option<u64>,
  used: AtomicU64,
}

impl MemoryBudget {
  pub fn new(limit: Option<u64>) -> Arc<MemoryBudget> {
    Arc::new(MemoryBudget {
      limit,
      used: AtomicU64::new(0),
    })
  }

  /// Takes `bytes` from the budget, or says how much is in use when they do not fit.
  pub fn reserve(&self, bytes: u64) -> Result<(), u64> {
    self
      .used
      .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
        let after = used.checked_add(bytes)?;
        self.limit.is_none_or(|limit| after <= limit).then_some(after)
      })
      .map(|_| ())
  }

  pub fn release(&self, bytes: u64) {
    self.used.fetch_sub(bytes, Ordering::AcqRel);
  }

  pub fn used(&self) -> u64 {
    self.used.load(Ordering::Acquire)
  }

  pub fn limit(&self) -> Option<u64> {
    self.limit
  }
}

/// A runtime's ceilings and what currently counts against them.
pub struct Capacity {
  pub instances: Arc<Gauge>,
  /// Executions (and calls on instances) accepted but not started yet.
  pub queued: Arc<Gauge>,
  pub memory: Arc<MemoryBudget>,
}

impl Capacity {
  pub fn new(options: CapacityOptions) -> Result<Capacity, ProbeError> {
    let count = |name: &str, value: Option<f64>, default: usize| -> Result<usize, ProbeError> {
      match value {
        None => Ok(default),
        Some(v) => Ok(whole(&format!("options.{name}"), v, 0.0, COUNT_MAX as f64)? as usize),
      }
    };
    let memory = options
      .max_total_memory_bytes
      .map(|v| whole("options.maxTotalMemoryBytes", v, MEMORY_MIN as f64, FUEL_MAX as f64))
      .transpose()?;
    Ok(Capacity {
      instances: Gauge::new(count("maxInstances", options.max_instances, DEFAULT_MAX_INSTANCES)?),
      queued: Gauge::new(count("maxQueued", options.max_queued, DEFAULT_MAX_QUEUED)?),
      memory: MemoryBudget::new(memory.map(|v| v as u64)),
    })
  }

  /// A slot for one more live instance, or `ERR_WASM_BUSY`.
  pub fn instance_slot(&self) -> Result<GaugeGuard, ProbeError> {
    self.instances.enter(|count, max| {
      format!(
        "the runtime already has {count} live instances (maxInstances = {max}); dispose one or raise maxInstances"
      )
    })
  }

  /// A place in the queue for one more execution, or `ERR_WASM_BUSY`.
  pub fn queue_place(&self) -> Result<GaugeGuard, ProbeError> {
    self.queued.enter(|count, max| {
      format!("{count} executions are already waiting to start (maxQueued = {max}); nothing ran, try again later")
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn gauges_refuse_past_their_ceiling_and_count_down_on_drop() {
    let gauge = Gauge::new(2);
    let a = gauge.try_enter().unwrap();
    let _b = gauge.try_enter().unwrap();
    assert!(gauge.try_enter().is_none());
    drop(a);
    assert_eq!(gauge.get(), 1);
    assert!(gauge.try_enter().is_some());
  }

  #[test]
  fn the_memory_budget_takes_and_gives_back() {
    let budget = MemoryBudget::new(Some(100));
    assert!(budget.reserve(60).is_ok());
    assert_eq!(budget.reserve(50), Err(60));
    budget.release(60);
    assert!(budget.reserve(100).is_ok());
    assert_eq!(budget.used(), 100);
    let unlimited = MemoryBudget::new(None);
    assert!(unlimited.reserve(u64::MAX).is_ok());
  }

  #[test]
  fn options_are_checked_by_name() {
    let bad = Capacity::new(CapacityOptions {
      max_queued: Some(-1.0),
      ..Default::default()
    });
    let e = bad.err().unwrap();
    assert_eq!(e.code, ErrorCode::InvalidArgValue);
    assert!(e.message.contains("options.maxQueued"), "{}", e.message);
    let zero = Capacity::new(CapacityOptions {
      max_instances: Some(0.0),
      ..Default::default()
    })
    .unwrap();
    let e = zero.instance_slot().err().unwrap();
    assert_eq!(e.code, ErrorCode::Busy);
    assert!(e.message.contains("maxInstances = 0"), "{}", e.message);
  }
}
