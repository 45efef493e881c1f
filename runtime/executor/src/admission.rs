//! Admission of runs: a budget on the linear memory of all live instances together (running or
//! pre-warmed), and one bounded wait queue in front of everything a run may wait for — its
//! sandbox's concurrency limit, a pooling-allocator slot, room in the memory budget — that
//! answers 429 when full. Every wait ends at the run's deadline.
//!
//! The budget counts what instances actually hold: a new instance is admitted once its initial
//! memory fits, and every later growth is charged as it happens (refused past the budget). The
//! hot path is atomics only; a release wakes waiters only when there are some.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;
use wow_protocol::Failure;

pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
    waiters: AtomicUsize,
    freed: Notify,
}

/// Bytes charged to a [`MemoryBudget`], given back when dropped.
pub struct Charge {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: u64) -> bool {
        let mut cur = self.used.load(Ordering::SeqCst);
        loop {
            if cur.saturating_add(bytes) > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(
                cur,
                cur + bytes,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    fn give_back(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.used.fetch_sub(bytes, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.freed.notify_waiters();
        }
    }

    /// `bytes` now, if they fit.
    pub fn try_charge(self: &Arc<Self>, bytes: u64) -> Option<Charge> {
        self.take(bytes).then(|| Charge {
            budget: self.clone(),
            bytes,
        })
    }

    /// `bytes` once they fit (never, if more than the whole budget: the caller checks).
    pub async fn charge(self: &Arc<Self>, bytes: u64) -> Charge {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let _waiting = Count::enter(&self.waiters);
            if let Some(c) = self.try_charge(bytes) {
                return c;
            }
            freed.await;
        }
    }
}

impl Charge {
    /// Charges `bytes` more to the same budget, if they fit.
    pub fn grow(&mut self, bytes: u64) -> bool {
        if !self.budget.take(bytes) {
            return false;
        }
        self.bytes += bytes;
        true
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// The runs waiting for anything, bounded.
pub struct Queue {
    waiting: AtomicUsize,
    max: usize,
}

impl Queue {
    pub fn new(max: usize) -> Queue {
        Queue {
            waiting: AtomicUsize::new(0),
            max,
        }
    }

    /// Runs waiting now.
    pub fn len(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for `what` as one of the queue: `Err` at once when the queue is full (429),
    /// `Ok(None)` when `deadline` comes first.
    pub async fn wait<T>(
        &self,
        deadline: Instant,
        what: impl Future<Output = T>,
    ) -> Result<Option<T>, Failure> {
        let waiting = Count::enter(&self.waiting);
        if waiting.ahead >= self.max {
            return Err(Failure::Overloaded(format!(
                "Too many requests: {} runs are waiting already, the most this executor queues \
                 (--max-queue).",
                self.max
            )));
        }
        Ok(tokio::time::timeout_at(deadline, what).await.ok())
    }
}

/// One in a count while alive.
struct Count<'a> {
    count: &'a AtomicUsize,
    ahead: usize,
}

impl<'a> Count<'a> {
    fn enter(count: &'a AtomicUsize) -> Count<'a> {
        let ahead = count.fetch_add(1, Ordering::SeqCst);
        Count { count, ahead }
    }
}

impl Drop for Count<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The machine's physical memory, bytes (the default budget).
pub fn physical_memory() -> u64 {
    // SAFETY: sysconf only reads system configuration.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || size <= 0 {
        return 4 << 30;
    }
    pages as u64 * size as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_release_wakes_a_waiting_charge() {
        let b = MemoryBudget::new(100);
        let first = b.try_charge(80).unwrap();
        assert!(b.try_charge(30).is_none());
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.charge(30).await.bytes() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(first);
        assert_eq!(waiter.await.unwrap(), 30);
        assert_eq!(b.used(), 0);
    }
}
