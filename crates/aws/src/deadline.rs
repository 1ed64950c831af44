//! The time budget of a collection, and bounded backoff within it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// A point in time no collector waits past. Held as a tokio instant so that waits and the
/// budget use the same clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    pub fn from_std(deadline: std::time::Instant) -> Self {
        Deadline(Instant::now() + deadline.saturating_duration_since(std::time::Instant::now()))
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Sleep for `delay` if that ends before the deadline; `false` (without sleeping) if not.
    pub async fn sleep(&self, delay: Duration) -> bool {
        if delay >= self.remaining() {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }

    /// Run `future` but give up at the deadline: `Err` names `what` was cut short.
    pub async fn run<T>(&self, what: &str, future: impl Future<Output = Result<T, String>>) -> Result<T, String> {
        match tokio::time::timeout_at(self.0, future).await {
            Ok(result) => result,
            Err(_) => Err(format!("the time budget ran out before {what} finished")),
        }
    }
}

/// Exponential backoff: 0.5 s doubling to at most 4 s.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const INITIAL: Duration = Duration::from_millis(500);
    pub const MAX: Duration = Duration::from_secs(4);

    pub fn new() -> Self {
        Backoff { next: Self::INITIAL }
    }

    /// The next delay (and doubles the one after).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }
}
