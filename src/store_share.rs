//! The process's pooled stores ([`MAX_LIVE_STORES`]), shared by every runtime in it — in a VS Code
//! extension host, every extension. Most are open to any runtime; [`RESERVED`] of them go only to
//! a runtime holding fewer than [`GUARANTEED`] stores. So however many stores one runtime's
//! executions keep (64 waiting on a slow JavaScript import, say), another runtime's execution
//! still gets one at once, and its synchronous call is not refused as busy.
//!
//! Written here rather than taken from a crate: it is two tokio semaphores and a count per
//! runtime, and no scheduler crate knows about store pools.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How many stores may be alive at once in the whole process; further executions queue.
pub const MAX_LIVE_STORES: usize = 64;

/// Stores kept for runtimes below their guaranteed share.
pub const RESERVED: usize = 16;
/// How many stores every runtime can have even while others hold all the open ones.
pub const GUARANTEED: usize = 4;

/// The process's stores: the open ones and the reserve.
pub struct StorePool {
  open: Arc<Semaphore>,
  reserve: Arc<Semaphore>,
}

impl StorePool {
  pub fn new() -> StorePool {
    StorePool {
      open: Arc::new(Semaphore::new(MAX_LIVE_STORES - RESERVED)),
      reserve: Arc::new(Semaphore::new(RESERVED)),
    }
  }
}

impl Default for StorePool {
  fn default() -> Self {
    StorePool::new()
  }
}

/// One runtime's part of the pool: how many stores it holds.
#[derive(Default)]
pub struct StoreShare {
  held: AtomicUsize,
  released: Notify,
}

/// One store held by a runtime; dropping it gives the store back.
pub struct StorePermit {
  _permit: OwnedSemaphorePermit,
  share: Arc<StoreShare>,
}

impl Drop for StorePermit {
  fn drop(&mut self) {
    self.share.held.fetch_sub(1, Ordering::AcqRel);
    // A waiter of this runtime that was above its guaranteed share may now take from the reserve.
    self.share.released.notify_one();
  }
}

impl StoreShare {
  pub fn new() -> Arc<StoreShare> {
    Arc::new(StoreShare::default())
  }

  pub fn held(&self) -> usize {
    self.held.load(Ordering::Acquire)
  }

  fn open(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> StorePermit {
    self.held.fetch_add(1, Ordering::AcqRel);
    StorePermit {
      _permit: permit,
      share: self.clone(),
    }
  }

  /// A reserved store, counted only while this runtime is below its guaranteed share (checked
  /// and counted at once, so that many waiters of one runtime cannot all take one).
  fn reserved(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Option<StorePermit> {
    self
      .held
      .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n < GUARANTEED).then_some(n + 1)
      })
      .ok()
      .map(|_| StorePermit {
        _permit: permit,
        share: self.clone(),
      })
  }

  /// A store now, if this runtime may have one.
  pub fn try_take(self: &Arc<Self>, pool: &StorePool) -> Option<StorePermit> {
    if let Ok(permit) = pool.open.clone().try_acquire_owned() {
      return Some(self.open(permit));
    }
    if self.held() < GUARANTEED {
      return pool
        .reserve
        .clone()
        .try_acquire_owned()
        .ok()
        .and_then(|p| self.reserved(p));
    }
    None
  }

  /// Waits for a store; `None` once the pool is closed (it never is while the process runs).
  pub async fn take(self: &Arc<Self>, pool: &StorePool) -> Option<StorePermit> {
    loop {
      if let Some(permit) = self.try_take(pool) {
        return Some(permit);
      }
      let below = self.held() < GUARANTEED;
      let released = self.released.notified();
      tokio::select! {
        permit = pool.open.clone().acquire_owned() => return permit.ok().map(|p| self.open(p)),
        permit = pool.reserve.clone().acquire_owned(), if below => {
          if let Some(permit) = self.reserved(permit.ok()?) {
            return Some(permit);
          }
        }
        () = released => {}
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_runtime_holding_every_open_store_leaves_the_reserve_to_others() {
    let pool = StorePool::new();
    let greedy = StoreShare::new();
    let mut held = Vec::new();
    while let Some(p) = greedy.try_take(&pool) {
      held.push(p);
    }
    // Past its guaranteed share, a runtime takes open stores only.
    assert_eq!(held.len(), MAX_LIVE_STORES - RESERVED);
    let others: Vec<_> = (0..RESERVED / GUARANTEED).map(|_| StoreShare::new()).collect();
    for other in &others {
      let mine: Vec<_> = (0..GUARANTEED).map_while(|_| other.try_take(&pool)).collect();
      assert_eq!(mine.len(), GUARANTEED);
      assert!(other.try_take(&pool).is_none());
      std::mem::forget(mine);
    }
    assert!(StoreShare::new().try_take(&pool).is_none(), "the reserve is all taken");
    drop(held.pop());
    assert_eq!(greedy.held(), MAX_LIVE_STORES - RESERVED - 1);
  }

  #[test]
  fn a_waiter_gets_the_store_given_back() {
    let rt = tokio::runtime::Builder::new_current_thread()
      .enable_all()
      .build()
      .unwrap();
    rt.block_on(async {
      let pool = StorePool::new();
      let share = StoreShare::new();
      let mut held: Vec<_> = std::iter::from_fn(|| share.try_take(&pool)).collect();
      let waiting = share.take(&pool);
      tokio::pin!(waiting);
      assert!(futures::poll!(&mut waiting).is_pending());
      held.pop();
      assert!(waiting.await.is_some());
    });
  }
}
