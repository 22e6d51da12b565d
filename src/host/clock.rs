//! `clock.now-ms` / `now_ms` and `clock.monotonic-ns` / `monotonic_ns`.

use once_cell::sync::Lazy;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static PROCESS_START: Lazy<Instant> = Lazy::new(Instant::now);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
  SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map(|d| d.as_millis() as u64)
    .unwrap_or(0)
}

/// Monotonic nanoseconds since a fixed point in this process (comparable across executions).
pub fn monotonic_ns() -> u64 {
  PROCESS_START.elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn clocks_move_forward() {
    let a = monotonic_ns();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let b = monotonic_ns();
    assert!(b >= a + 1_000_000, "{a} -> {b}");
    assert!(now_ms() > 1_700_000_000_000);
  }
}
