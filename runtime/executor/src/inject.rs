//! A deliberate slowdown of the init and run paths, for the regression gate's self-test: the
//! gate must flag a known +20%, so a test needs a build that is slower by a known amount.
//!
//! Compiled only with the `inject-slowdown` feature, which no default build enables (the harness
//! turns it on for its own tests). Even then it does nothing unless `WOW_INJECT_INIT_US` or
//! `WOW_INJECT_RUN_US` is set, and an executor that injects says so in its log at start.
//! The delay is a busy wait, as a regression in the request path's own work would be: it holds
//! a worker thread and a core, not just the clock. It comes after the executor's own work, just
//! before the answer: placed before it, it gave the background work of the previous request (a
//! pre-warm refill) time to finish, and the client saw only about three quarters of it (debug
//! build, `noop`'s cold start).

/// The configured delays, read once: (init, run).
#[cfg(feature = "inject-slowdown")]
fn delays() -> (std::time::Duration, std::time::Duration) {
    use std::sync::OnceLock;
    use std::time::Duration;
    static DELAYS: OnceLock<(Duration, Duration)> = OnceLock::new();
    *DELAYS.get_or_init(|| {
        let us = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::ZERO, Duration::from_micros)
        };
        (us("WOW_INJECT_INIT_US"), us("WOW_INJECT_RUN_US"))
    })
}

/// Says in the log when this executor injects a slowdown (so a run using it cannot pass for a
/// plain one).
pub fn announce() {
    #[cfg(feature = "inject-slowdown")]
    {
        let (init, run) = delays();
        if !init.is_zero() || !run.is_zero() {
            tracing::warn!(
                "inject-slowdown: every init is {} µs slower and every run {} µs slower (WOW_INJECT_INIT_US, WOW_INJECT_RUN_US)",
                init.as_micros(),
                run.as_micros()
            );
        }
    }
}

/// Busy-waits the configured init delay (nothing without the feature).
pub fn init() {
    #[cfg(feature = "inject-slowdown")]
    spin(delays().0);
}

/// Busy-waits the configured run delay (nothing without the feature).
pub fn run() {
    #[cfg(feature = "inject-slowdown")]
    spin(delays().1);
}

#[cfg(feature = "inject-slowdown")]
fn spin(d: std::time::Duration) {
    if d.is_zero() {
        return;
    }
    let t = std::time::Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}
