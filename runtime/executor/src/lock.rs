//! Mutex locking that survives poisoning. Every critical section in the executor leaves its
//! data whole at each step (a map insert or removal, a queue push or pop), so a panic while a
//! lock was held — in a request, a background task or a test — must not turn every later
//! request that takes the same lock into a panic too.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, taking the data of a poisoned mutex as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Poisons `m`: a thread panics while holding it.
#[cfg(test)]
pub(crate) fn poison<T: Send>(m: &Mutex<T>) {
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            let _held = m.lock();
            panic!("a panic while the lock is held (on purpose)");
        })
        .join()
    });
    assert!(r.is_err() && m.is_poisoned());
}
