//! The memory cap of one store: every linear memory and table it grows is checked against the
//! execution's limits and drawn from the runtime's budget.

use crate::capacity::MemoryBudget;
use std::sync::Arc;
use wasmtime::ResourceLimiter;

/// Caps the total linear memory of a store (all its memories together) and each table, draws
/// that memory from the runtime's budget (given back when the store goes), and remembers what it
/// refused so a later failure can be reported as `ERR_WASM_MEMORY_LIMIT`.
#[derive(Debug)]
pub struct MemoryLimiter {
  pub memory_limit: u64,
  pub table_limit: u64,
  pub total: u64,
  pub peak: u64,
  pub refused: Option<String>,
  budget: Arc<MemoryBudget>,
}

impl MemoryLimiter {
  pub fn new(memory_limit: u64, table_limit: u64, budget: Arc<MemoryBudget>) -> Self {
    MemoryLimiter {
      memory_limit,
      table_limit,
      total: 0,
      peak: 0,
      refused: None,
      budget,
    }
  }
}

impl Drop for MemoryLimiter {
  fn drop(&mut self) {
    self.budget.release(self.total);
  }
}

impl ResourceLimiter for MemoryLimiter {
  fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
    // Growth the memory's own maximum forbids fails in Wasmtime after this approval; refuse it
    // here so that nothing is counted for it (it is the guest's own limit, not ours: no note).
    if maximum.is_some_and(|max| desired > max) {
      return Ok(false);
    }
    let growth = desired.saturating_sub(current) as u64;
    // Checked: a memory64 guest can ask for nearly 2^64 bytes.
    let after = self
      .total
      .checked_add(growth)
      .filter(|after| *after <= self.memory_limit);
    let Some(after) = after else {
      self.refused = Some(format!(
        "growing linear memory from {current} to {desired} bytes would bring the instance to {} bytes, above limits.memoryBytes = {}",
        self.total.saturating_add(growth),
        self.memory_limit
      ));
      return Ok(false);
    };
    if let Err(used) = self.budget.reserve(growth) {
      self.refused = Some(format!(
        "growing linear memory from {current} to {desired} bytes would bring this runtime's guests to {} bytes together, above maxTotalMemoryBytes = {}",
        used.saturating_add(growth),
        self.budget.limit().unwrap_or_default()
      ));
      return Ok(false);
    }
    // If the operating system then refuses the memory, the growth stays counted until the store
    // goes: the budget errs on the strict side.
    self.total = after;
    self.peak = self.peak.max(self.total);
    Ok(true)
  }

  fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
    if desired as u64 > self.table_limit {
      self.refused = Some(format!(
        "growing a table to {desired} elements is above limits.tableElements = {}",
        self.table_limit
      ));
      return Ok(false);
    }
    Ok(true)
  }

  fn instances(&self) -> usize {
    1000
  }

  fn tables(&self) -> usize {
    1000
  }

  fn memories(&self) -> usize {
    100
  }
}
