//! The pre-warm pool (WOW's "Wasm Pre-warm Pool"): per sandbox, instances created ahead of
//! demand so a run skips instantiation.
//!
//! Sizing: a sandbox that ran in the last window keeps as many ready instances as the most runs
//! it had in flight at once in that window (at least one, at most `max_per_sandbox`); an idle
//! sandbox keeps none. All pools together stay under a global budget, counted with a fixed
//! per-instance estimate (a pooled, copy-on-write instance of a small module is a few dozen
//! KiB resident once touched).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::OwnedSemaphorePermit;

use crate::engines::Instance;
use crate::lock::lock;

/// Budget charged per pre-warmed instance.
pub const INSTANCE_ESTIMATE_BYTES: u64 = 128 * 1024;

/// An instance ready to run (in its own store), and the pool slot it occupies.
pub struct Ready {
    pub instance: Box<dyn Instance>,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// The global budget all pools share.
#[derive(Default)]
pub struct Budget {
    pub used_bytes: AtomicU64,
    pub instances: AtomicU64,
}

impl Budget {
    fn try_charge(&self, limit: u64) -> bool {
        let mut cur = self.used_bytes.load(Ordering::Relaxed);
        loop {
            if cur + INSTANCE_ESTIMATE_BYTES > limit {
                return false;
            }
            match self.used_bytes.compare_exchange_weak(
                cur,
                cur + INSTANCE_ESTIMATE_BYTES,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.instances.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(now) => cur = now,
            }
        }
    }

    fn release(&self, n: usize) {
        self.used_bytes
            .fetch_sub(n as u64 * INSTANCE_ESTIMATE_BYTES, Ordering::AcqRel);
        self.instances.fetch_sub(n as u64, Ordering::Relaxed);
    }
}

/// One sandbox's pool and the demand signal that sizes it.
#[derive(Default)]
pub struct ActionPool {
    ready: Mutex<VecDeque<Ready>>,
    in_flight: AtomicUsize,
    /// Peak in-flight runs in the current and the previous window.
    peak_now: AtomicUsize,
    peak_prev: AtomicUsize,
    runs_now: AtomicUsize,
    runs_prev: AtomicUsize,
    pub refilling: AtomicBool,
}

impl ActionPool {
    /// Takes a ready instance, if any. The caller owns its budget charge from here on and must
    /// hand it back with [`ActionPool::release_budget`] semantics via `Budget` (done here).
    pub fn take(&self, budget: &Budget) -> Option<Ready> {
        let r = lock(&self.ready).pop_front();
        if r.is_some() {
            budget.release(1);
        }
        r
    }

    /// Records the start of a run; returns a guard that records its end.
    pub fn run_started(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_now.fetch_max(now, Ordering::AcqRel);
        self.runs_now.fetch_add(1, Ordering::Relaxed);
        InFlight { pool: self }
    }

    /// How many ready instances this sandbox should have now.
    pub fn target(&self, max_per_sandbox: usize) -> usize {
        let runs = self.runs_now.load(Ordering::Relaxed) + self.runs_prev.load(Ordering::Relaxed);
        if runs == 0 {
            return 0;
        }
        let peak = self
            .peak_now
            .load(Ordering::Relaxed)
            .max(self.peak_prev.load(Ordering::Relaxed));
        peak.clamp(1, max_per_sandbox.max(1))
    }

    pub fn len(&self) -> usize {
        lock(&self.ready).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an instance if the budget allows; gives it back otherwise.
    pub fn offer(&self, r: Ready, budget: &Budget, limit: u64) -> Result<(), Box<Ready>> {
        if !budget.try_charge(limit) {
            return Err(Box::new(r));
        }
        lock(&self.ready).push_back(r);
        Ok(())
    }

    /// Starts a new sizing window; drops instances beyond the new target. Returns how many were
    /// dropped.
    pub fn roll_window(&self, max_per_sandbox: usize, budget: &Budget) -> usize {
        self.peak_prev
            .store(self.peak_now.load(Ordering::Relaxed), Ordering::Relaxed);
        self.peak_now
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        self.runs_prev
            .store(self.runs_now.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        let target = self.target(max_per_sandbox);
        let mut q = lock(&self.ready);
        let mut dropped = 0;
        while q.len() > target {
            q.pop_back();
            dropped += 1;
        }
        drop(q);
        if dropped > 0 {
            budget.release(dropped);
        }
        dropped
    }

    /// Poisons the pool's lock, for tests of what follows a panic.
    #[cfg(test)]
    pub(crate) fn poison_lock(&self) {
        crate::lock::poison(&self.ready);
    }

    /// Empties the pool (sandbox destroyed).
    pub fn drain(&self, budget: &Budget) {
        let n = {
            let mut q = lock(&self.ready);
            let n = q.len();
            q.clear();
            n
        };
        if n > 0 {
            budget.release(n);
        }
    }
}

pub struct InFlight<'a> {
    pool: &'a ActionPool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.pool.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_follows_demand_and_goes_to_zero_when_idle() {
        let b = Budget::default();
        let p = ActionPool::default();
        assert_eq!(p.target(8), 0);
        {
            let _a = p.run_started();
            let _b = p.run_started();
            let _c = p.run_started();
            assert_eq!(p.target(8), 3);
            assert_eq!(p.target(2), 2);
        }
        assert_eq!(p.target(8), 3, "peak remembered within the window");
        p.roll_window(8, &b);
        assert_eq!(p.target(8), 3, "and through the next window");
        p.roll_window(8, &b);
        assert_eq!(p.target(8), 0, "idle for a whole window: nothing kept");
    }

    #[test]
    fn budget_is_bounded() {
        let b = Budget::default();
        assert!(b.try_charge(2 * INSTANCE_ESTIMATE_BYTES));
        assert!(b.try_charge(2 * INSTANCE_ESTIMATE_BYTES));
        assert!(!b.try_charge(2 * INSTANCE_ESTIMATE_BYTES));
        b.release(2);
        assert_eq!(b.used_bytes.load(Ordering::Relaxed), 0);
    }
}
