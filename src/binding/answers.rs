//! The waiting side of a call to JavaScript answered later by a plain call back (guest HTTP,
//! JavaScript imports): each call gets an id and a one-shot channel; the answer for an id
//! completes its waiter, and a waiter dropped first (the guest gave up) is forgotten.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Table<T> = Mutex<HashMap<u64, oneshot::Sender<T>>>;

/// Calls in flight to JavaScript, awaiting answers of type `T`.
pub struct Answers<T> {
  waiters: Arc<Table<T>>,
  next: AtomicU64,
}

/// One call's wait: its id for JavaScript, and the answer to come. Dropping it forgets the call.
pub struct Waiting<T> {
  pub id: u64,
  answer: oneshot::Receiver<T>,
  waiters: Arc<Table<T>>,
}

impl<T> Drop for Waiting<T> {
  fn drop(&mut self) {
    self.waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
  }
}

impl<T> Waiting<T> {
  /// The answer, or `None` if its sender went away unanswered.
  pub async fn received(mut self) -> Option<T> {
    (&mut self.answer).await.ok()
  }
}

impl<T> Default for Answers<T> {
  fn default() -> Self {
    Answers {
      waiters: Arc::default(),
      next: AtomicU64::new(1),
    }
  }
}

impl<T> Answers<T> {
  /// Registers a new call.
  pub fn wait(&self) -> Waiting<T> {
    let id = self.next.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = oneshot::channel();
    self.waiters.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
    Waiting {
      id,
      answer: rx,
      waiters: self.waiters.clone(),
    }
  }

  /// JavaScript's answer to call `id`; ignored when its waiter is gone.
  pub fn answer(&self, id: f64, answer: T) {
    let waiter = self
      .waiters
      .lock()
      .unwrap_or_else(|p| p.into_inner())
      .remove(&(id as u64));
    if let Some(waiter) = waiter {
      let _ = waiter.send(answer);
    }
  }
}
