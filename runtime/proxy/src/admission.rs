//! How many runs a container executes at once: at most `concurrency` (the paper ran the Docker
//! proxy with 1, 3 and 10), the excess waits in a first-come queue, and past a bounded queue
//! `/run` answers 429 instead of piling up requests without limit.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use wow_protocol::Failure;

pub struct Admission {
    slots: Semaphore,
    waiting: AtomicUsize,
    concurrency: usize,
    max_queue: usize,
}

impl Admission {
    pub fn new(concurrency: usize, max_queue: usize) -> Admission {
        Admission {
            slots: Semaphore::new(concurrency),
            waiting: AtomicUsize::new(0),
            concurrency,
            max_queue,
        }
    }

    /// Waits for a free slot. `Ok(None)`: `until` passed first. `Err`: the queue is full.
    pub async fn enter(
        &self,
        until: Option<Instant>,
    ) -> Result<Option<SemaphorePermit<'_>>, Failure> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(Some(permit));
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&self.waiting);
        if ahead >= self.max_queue {
            return Err(Failure::Overloaded(format!(
                "Too many requests: {} running and {} waiting, the most this container queues.",
                self.concurrency, self.max_queue
            )));
        }
        let acquire = self.slots.acquire();
        let permit = match until {
            Some(t) => match tokio::time::timeout_at(t, acquire).await {
                Ok(permit) => permit,
                Err(_) => return Ok(None),
            },
            None => acquire.await,
        };
        Ok(Some(permit.expect("the semaphore is never closed")))
    }
}

/// Leaves the queue when the waiter is done or dropped (client gone).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn queue_is_bounded_and_deadlines_apply() {
        let a = Admission::new(1, 1);
        let first = a.enter(None).await.unwrap().unwrap();
        // One may wait; it gives up at its deadline.
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(a.enter(Some(soon)).await.unwrap().is_none());
        // While one waits, the next is refused.
        let waiter = a.enter(None);
        tokio::pin!(waiter);
        assert!(poll_briefly(&mut waiter).await.is_none());
        assert_eq!(a.enter(None).await.unwrap_err().status(), 429);
        drop(first);
        assert!(waiter.await.unwrap().is_some());
    }

    async fn poll_briefly<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(10), f)
            .await
            .ok()
    }
}
