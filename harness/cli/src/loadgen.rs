//! Load generation with one clock for both backends.
//!
//! Closed loop: C clients, each sending its next request when the previous one answers. After a
//! warm-up, a fixed window counts the requests that complete inside it (throughput) and records
//! their latencies (HdrHistogram). Open loop: arrivals at a fixed mean rate (Poisson), each
//! latency measured from its *intended* send time, so a stalled system cannot hide its stall by
//! slowing the generator down (coordinated omission).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use wow_records::histogram::new_latency_histogram;

use crate::recorder::Cancel;
use crate::rng::Rng;

/// What one request reported.
pub struct Sample {
    pub latency: Duration,
    pub ok: bool,
    pub cold: bool,
    pub error: Option<String>,
}

/// What a load phase measured.
#[derive(Debug)]
pub struct LoadResult {
    pub window: Duration,
    /// Requests that completed successfully inside the window.
    pub completed: u64,
    /// Requests that failed inside the window.
    pub errors: u64,
    /// Of the completed ones, how many hit a cold start.
    pub cold: u64,
    pub hist: Histogram<u64>,
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn throughput(&self) -> f64 {
        self.completed as f64 / self.window.as_secs_f64()
    }

    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        (!self.hist.is_empty()).then(|| self.hist.value_at_quantile(q) as f64)
    }
}

struct Shared {
    hist: Mutex<Histogram<u64>>,
    completed: AtomicU64,
    errors: AtomicU64,
    cold: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            hist: Mutex::new(new_latency_histogram()),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cold: AtomicU64::new(0),
            first_error: Mutex::new(None),
        })
    }

    fn record(&self, s: &Sample) {
        if s.ok {
            self.completed.fetch_add(1, Ordering::Relaxed);
            if s.cold {
                self.cold.fetch_add(1, Ordering::Relaxed);
            }
            let us = (s.latency.as_micros() as u64).max(1);
            let _ = self.hist.lock().unwrap().record(us);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
            let mut fe = self.first_error.lock().unwrap();
            if fe.is_none() {
                *fe = s.error.clone().or(Some("failed".into()));
            }
        }
    }

    fn result(&self, window: Duration) -> LoadResult {
        LoadResult {
            window,
            completed: self.completed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            cold: self.cold.load(Ordering::Relaxed),
            hist: self.hist.lock().unwrap().clone(),
            first_error: self.first_error.lock().unwrap().clone(),
        }
    }
}

/// `clients` closed-loop clients; `request(client, seq)` sends one request.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    warmup: Duration,
    window: Duration,
    cancel: &Cancel,
    request: F,
) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Sample> + Send,
{
    let shared = Shared::new();
    let start = Instant::now();
    let window_start = start + warmup;
    let window_end = window_start + window;
    let request = Arc::new(request);
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let shared = shared.clone();
        let request = request.clone();
        let cancel = cancel.clone();
        tasks.push(tokio::spawn(async move {
            let mut seq = 0u64;
            while Instant::now() < window_end && !cancel.is_cancelled() {
                let sample = request(c, seq).await;
                seq += 1;
                let done = Instant::now();
                if done >= window_start && done <= window_end {
                    shared.record(&sample);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    shared.result(window)
}

/// Poisson arrivals at `rate` per second for `warmup + window`; latencies from intended send
/// times. At most `max_outstanding` requests are in flight; arrivals beyond that count as errors
/// (the generator refuses to silently thin the load).
pub async fn open_loop<F, Fut>(
    rate: f64,
    warmup: Duration,
    window: Duration,
    seed: u64,
    max_outstanding: usize,
    cancel: &Cancel,
    request: F,
) -> LoadResult
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Sample> + Send + 'static,
{
    let shared = Shared::new();
    let start = Instant::now();
    let window_start = start + warmup;
    let window_end = window_start + window;
    let request = Arc::new(request);
    let outstanding = Arc::new(AtomicU64::new(0));
    let mut rng = Rng::new(seed);
    let mut intended = start;
    let mut seq = 0u64;
    let mut tasks = Vec::new();
    loop {
        intended += Duration::from_secs_f64(rng.exponential(1.0 / rate));
        if intended >= window_end || cancel.is_cancelled() {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        let in_window = intended >= window_start;
        if outstanding.load(Ordering::Relaxed) as usize >= max_outstanding {
            if in_window {
                shared.record(&Sample {
                    latency: Duration::ZERO,
                    ok: false,
                    cold: false,
                    error: Some(format!(
                        "more than {max_outstanding} requests outstanding: the system under test \
                         cannot keep up with {rate} requests/s"
                    )),
                });
            }
            continue;
        }
        outstanding.fetch_add(1, Ordering::Relaxed);
        let (shared, request, outstanding) = (shared.clone(), request.clone(), outstanding.clone());
        let at = intended;
        let n = seq;
        seq += 1;
        tasks.push(tokio::spawn(async move {
            let mut sample = request(n).await;
            // From the intended send time, not from when the generator got round to it.
            sample.latency = at.elapsed();
            if in_window {
                shared.record(&sample);
            }
            outstanding.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    shared.result(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            ok: true,
            cold: false,
            error: None,
        }
    }

    #[tokio::test]
    async fn closed_loop_throughput_matches_service_time() {
        // 4 clients, 20 ms per request: ~200 requests/s.
        let r = closed_loop(
            4,
            Duration::from_millis(100),
            Duration::from_millis(500),
            &Cancel::default(),
            |_, _| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                sample(20)
            },
        )
        .await;
        let tput = r.throughput();
        assert!((120.0..=220.0).contains(&tput), "{tput}");
        assert_eq!(r.errors, 0);
        assert_eq!(r.hist.len(), r.completed);
    }

    #[tokio::test]
    async fn open_loop_counts_from_intended_time_and_caps_outstanding() {
        // Each request takes 50 ms; at 100/s about 5 are outstanding, under the cap of 20.
        let r = open_loop(
            100.0,
            Duration::from_millis(100),
            Duration::from_millis(500),
            1,
            20,
            &Cancel::default(),
            |_| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                sample(0)
            },
        )
        .await;
        assert_eq!(r.errors, 0);
        assert!(r.completed > 20, "{}", r.completed);
        assert!(r.quantile_us(0.5).unwrap() >= 50_000.0);
        // A cap of 1 cannot hold 100/s of 50 ms requests: the excess is reported, not hidden.
        let r = open_loop(
            100.0,
            Duration::ZERO,
            Duration::from_millis(300),
            1,
            1,
            &Cancel::default(),
            |_| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                sample(0)
            },
        )
        .await;
        assert!(r.errors > 0 && r.first_error.unwrap().contains("cannot keep up"));
    }
}
