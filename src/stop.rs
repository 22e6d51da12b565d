//! How an execution is stopped from outside: the reason, and the flag its owner trips.

use std::sync::atomic::{AtomicU8, Ordering};

/// Why the runtime stopped a guest from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
  Timeout,
  Cancelled,
  Closed,
}

/// A flag the owner of an execution trips to stop it; read by the epoch callback and awaited
/// next to host calls, so a guest stops whether it computes or waits.
#[derive(Debug, Default)]
pub struct StopSignal {
  reason: AtomicU8,
  notify: tokio::sync::Notify,
}

impl StopSignal {
  pub fn stop(&self, reason: StopReason) {
    let code = match reason {
      StopReason::Timeout => 1,
      StopReason::Cancelled => 2,
      StopReason::Closed => 3,
    };
    // The first reason wins.
    if self
      .reason
      .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
      .is_ok()
    {
      self.notify.notify_waiters();
    }
  }

  pub fn reason(&self) -> Option<StopReason> {
    match self.reason.load(Ordering::Acquire) {
      1 => Some(StopReason::Timeout),
      2 => Some(StopReason::Cancelled),
      3 => Some(StopReason::Closed),
      _ => None,
    }
  }

  /// Resolves once [`StopSignal::stop`] has been called (at once if it already was).
  pub async fn stopped(&self) -> StopReason {
    loop {
      let notified = self.notify.notified();
      if let Some(reason) = self.reason() {
        return reason;
      }
      notified.await;
    }
  }
}
