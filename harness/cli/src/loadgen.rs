//! Load generation with one clock for both backends.
//!
//! Closed loop: C clients, each sending its next request when the previous one answers. After a
//! warm-up, a window that lasts until the load is steady (within a ceiling) counts the requests
//! that complete inside it (throughput) and records their latencies (HdrHistogram), with those
//! of the requests still in flight at its end. Open loop: arrivals at a fixed mean rate (Poisson), each
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
    /// Requests sent but not answered when the window closed.
    pub in_flight: u64,
    pub steadiness: Steadiness,
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

    /// A request answered after the window: its latency only.
    fn record_latency_only(&self, s: &Sample) {
        if s.ok {
            let us = (s.latency.as_micros() as u64).max(1);
            let _ = self.hist.lock().unwrap().record(us);
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
            in_flight: 0,
            steadiness: Steadiness::Unjudged,
        }
    }
}

/// How long a closed-loop phase runs, and when its window counts as steady.
///
/// The warm-up lasts at least `warmup` and until every client has had an answer, so the clients'
/// first requests, sent all at once, are behind it. The window then lasts until the load is
/// steady, at least `min` and at most `max`: on average `per_client` completions per client (in
/// a closed loop that is `per_client` × the mean latency, so the window grows with the
/// latency), and no drift of the throughput across the window beyond ± `max_drift` that stands
/// out of its noise (see [`unsteady`]). A window that reaches `max` first is recorded as not
/// steady, with what it lacked. `min == max` gives a fixed window, judged at its end.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub min: Duration,
    pub max: Duration,
    pub per_client: f64,
    pub max_drift: f64,
}

impl Window {
    /// A fixed window after a fixed least warm-up (judged for steadiness at its end).
    pub fn fixed(warmup: Duration, window: Duration) -> Window {
        Window {
            warmup,
            min: window,
            max: window,
            per_client: STEADY_PER_CLIENT,
            max_drift: STEADY_MAX_DRIFT,
        }
    }
}

/// Completions per client a steady window needs by default.
pub const STEADY_PER_CLIENT: f64 = 3.0;
/// The largest change of the throughput across a steady window, relative to its mean (a
/// larger one counts only when it stands out of the noise).
pub const STEADY_MAX_DRIFT: f64 = 0.10;
/// Batches of answers a window's drift is judged from.
const BATCHES: usize = 10;
/// How often the window's end is judged.
const TICK: Duration = Duration::from_millis(50);

/// Whether a window reached a steady state.
#[derive(Debug, Clone, PartialEq)]
pub enum Steadiness {
    Steady,
    /// Not steady at the ceiling: what it lacked.
    NotSteady(String),
    /// Not judged (open loop).
    Unjudged,
}

/// One answered request, with its times from the phase's start.
struct Done {
    client: usize,
    sent: Duration,
    done: Duration,
    sample: Sample,
}

/// Why a window from `from` to `to` is not steady yet (`None`: it is).
///
/// Steady means no drift: the answers are cut into ten batches in order, each batch's rate is
/// its count over the time since the previous batch's last answer, and a least-squares line
/// through the rates must not change by more than `max_drift` of their mean across the window
/// unless that change is within the batches' own noise (its 95% interval holds zero). A
/// transient (rates ramping up or down) fails; a noisy but level rate passes, its precision
/// being the repetitions' business. A batch ends at the end of a burst (answers closer than a
/// tenth of the mean gap between answers), so clients answered in step, as a closed loop of
/// equal sleeps stays, do not look like swings.
fn unsteady(
    done: &[Done],
    clients: usize,
    from: Duration,
    to: Duration,
    w: &Window,
) -> Option<String> {
    let mut times: Vec<Duration> = done
        .iter()
        .filter(|d| d.sample.ok && d.done >= from && d.done <= to)
        .map(|d| d.done)
        .collect();
    times.sort_unstable();
    let mut lacks = Vec::new();
    let per_client = times.len() as f64 / clients.max(1) as f64;
    if per_client < w.per_client {
        lacks.push(format!(
            "{per_client:.1} completions per client, needs {}",
            w.per_client
        ));
    }
    match batch_rates(from, to, &times).map(|r| drift(&r)) {
        Some((change, significant)) if significant && change.abs() > w.max_drift => {
            lacks.push(format!(
                "throughput drifting {:+.0}% across the window, more than ± {:.0}%",
                change * 100.0,
                w.max_drift * 100.0
            ))
        }
        Some(_) => {}
        None => lacks.push(format!(
            "{} answers in too few bursts to tell a drift (needs {} batches)",
            times.len(),
            MIN_BATCHES
        )),
    }
    (!lacks.is_empty()).then(|| lacks.join("; "))
}

/// The fewest batches a drift is judged from.
const MIN_BATCHES: usize = 5;

/// The rates of up to [`BATCHES`] batches of answers at sorted `times` after `from` (see
/// [`unsteady`]); `None` with fewer than [`MIN_BATCHES`].
fn batch_rates(from: Duration, to: Duration, times: &[Duration]) -> Option<Vec<f64>> {
    let n = times.len();
    if n < 2 * MIN_BATCHES {
        return None;
    }
    let burst_gap = to.saturating_sub(from) / (n as u32).saturating_mul(10).max(1);
    let mut rates = Vec::with_capacity(BATCHES);
    let (mut start, mut a) = (from, 0);
    for i in 1..=BATCHES {
        let mut b = (i * n / BATCHES).max(a + 1);
        if b > n {
            break;
        }
        while b < n && times[b] - times[b - 1] < burst_gap {
            b += 1;
        }
        let end = times[b - 1];
        let span = end.saturating_sub(start).as_secs_f64().max(1e-6);
        rates.push((b - a) as f64 / span);
        (start, a) = (end, b);
        if b == n {
            break;
        }
    }
    (rates.len() >= MIN_BATCHES).then_some(rates)
}

/// The change across the batches of a least-squares line through their rates, relative to
/// their mean, and whether it stands out of their noise (its 95% interval excludes zero).
fn drift(rates: &[f64]) -> (f64, bool) {
    let k = rates.len() as f64;
    let mean_x = (k - 1.0) / 2.0;
    let mean = rates.iter().sum::<f64>() / k;
    let sxx: f64 = (0..rates.len()).map(|i| (i as f64 - mean_x).powi(2)).sum();
    let slope = rates
        .iter()
        .enumerate()
        .map(|(i, r)| (i as f64 - mean_x) * (r - mean))
        .sum::<f64>()
        / sxx;
    let resid: f64 = rates
        .iter()
        .enumerate()
        .map(|(i, r)| (r - mean - slope * (i as f64 - mean_x)).powi(2))
        .sum();
    let se = (resid / (k - 2.0) / sxx).sqrt();
    // Student's t at 97.5% for k − 2 = 3 … 8 degrees of freedom.
    let t = [3.182, 2.776, 2.571, 2.447, 2.365, 2.306][rates.len() - MIN_BATCHES];
    (slope * (k - 1.0) / mean, slope.abs() > t * se)
}

/// `clients` closed-loop clients; `request(client, seq)` sends one request. The window adapts
/// to the load as [`Window`] says. Throughput counts the requests answered inside the window;
/// latencies are those of the requests answered inside it and of the ones still in flight at
/// its end (timed to their answer, so a long tail is not cut at the window's end), and the
/// in-flight ones are counted.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    window: Window,
    cancel: &Cancel,
    request: F,
) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Sample> + Send,
{
    let start = Instant::now();
    let answered: Arc<Mutex<Vec<Done>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let request = Arc::new(request);
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let (answered, stop, request, cancel) = (
            answered.clone(),
            stop.clone(),
            request.clone(),
            cancel.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) && !cancel.is_cancelled() {
                let sent = start.elapsed();
                let sample = request(c, seq).await;
                seq += 1;
                let done = start.elapsed();
                answered.lock().unwrap().push(Done {
                    client: c,
                    sent,
                    done,
                    sample,
                });
            }
        }));
    }
    // Warm-up: its least length, and every client answered once.
    let warmup_cap = window.warmup + window.max;
    let mut warm_lacked = None;
    let from = loop {
        tokio::time::sleep(TICK).await;
        let now = start.elapsed();
        if cancel.is_cancelled() {
            break now;
        }
        if now < window.warmup {
            continue;
        }
        let mut seen = vec![false; clients];
        for d in answered.lock().unwrap().iter() {
            seen[d.client] = true;
        }
        let waiting = seen.iter().filter(|s| !**s).count();
        if waiting == 0 {
            break now;
        }
        if now >= warmup_cap {
            warm_lacked = Some(format!(
                "{waiting} of {clients} clients had no answer after a warm-up of {:.1} s",
                now.as_secs_f64()
            ));
            break now;
        }
    };
    // The window: until steady, within its least and most length.
    let (to, mut steadiness) = loop {
        tokio::time::sleep(TICK).await;
        let now = start.elapsed();
        let span = now - from;
        if cancel.is_cancelled() {
            break (now, Steadiness::NotSteady("cancelled".into()));
        }
        if span < window.min {
            continue;
        }
        let why = unsteady(&answered.lock().unwrap(), clients, from, now, &window);
        match why {
            None => break (now, Steadiness::Steady),
            Some(why) if span >= window.max => {
                break (
                    now,
                    Steadiness::NotSteady(format!("after {:.1} s: {why}", span.as_secs_f64())),
                );
            }
            Some(_) => {}
        }
    };
    stop.store(true, Ordering::Relaxed);
    if let Some(why) = warm_lacked {
        steadiness = Steadiness::NotSteady(why);
    }
    for t in tasks {
        let _ = t.await;
    }
    let answered = std::mem::take(&mut *answered.lock().unwrap());
    let shared = Shared::new();
    let mut in_flight = 0;
    for d in &answered {
        if d.done >= from && d.done <= to {
            shared.record(&d.sample);
        } else if d.sent <= to && d.done > to {
            in_flight += 1;
            shared.record_latency_only(&d.sample);
        }
    }
    let mut r = shared.result(to - from);
    r.in_flight = in_flight;
    r.steadiness = steadiness;
    r
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
            Window::fixed(Duration::from_millis(100), Duration::from_millis(500)),
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
        // The requests in flight at the end are timed too.
        assert_eq!(r.hist.len(), r.completed + r.in_flight);
    }

    /// The window lasts until steady: a slower service gets a longer one, and what was still
    /// in flight at its end is counted.
    #[tokio::test]
    async fn closed_loop_window_grows_with_the_latency() {
        let adaptive = Window {
            warmup: Duration::from_millis(50),
            min: Duration::from_millis(200),
            max: Duration::from_secs(5),
            per_client: 3.0,
            max_drift: 0.5,
        };
        let cancel = Cancel::default();
        let run = |ms: u64| {
            closed_loop(4, adaptive, &cancel, move |_, _| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                sample(ms)
            })
        };
        let (short, long) = (run(5).await, run(150).await);
        assert_eq!(short.steadiness, Steadiness::Steady);
        assert_eq!(long.steadiness, Steadiness::Steady);
        // 3 completions per client of 150 ms each take at least 450 ms.
        assert!(
            long.window >= Duration::from_millis(450),
            "{:?}",
            long.window
        );
        assert!(
            long.window > short.window,
            "{:?} {:?}",
            long.window,
            short.window
        );
        assert!((1..=4).contains(&long.in_flight), "{}", long.in_flight);
        // A ceiling too short for the load is reported, not passed off as steady.
        let capped = Window {
            max: Duration::from_millis(200),
            ..adaptive
        };
        let r = closed_loop(4, capped, &Cancel::default(), |_, _| async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            sample(150)
        })
        .await;
        match r.steadiness {
            Steadiness::NotSteady(why) => assert!(why.contains("completions per client"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_ramp_drifts_and_a_level_rate_does_not_in_bursts_or_noise() {
        let ms = Duration::from_millis;
        // One client, 300 ms a request: every batch has the same rate.
        let even: Vec<Duration> = (1..=40).map(|i| ms(300 * i)).collect();
        let judge = |t: &[Duration]| drift(&batch_rates(ms(0), *t.last().unwrap(), t).unwrap());
        let (change, _) = judge(&even);
        assert!(change.abs() < 0.02, "{change}");
        // Clients in step: bursts of seven answers (the batches' size, 6 or 7, cuts across
        // them), 300 ms apart, steady as a whole.
        let bursts: Vec<Duration> = (1..=10)
            .flat_map(|w| (0..7).map(move |k| ms(300 * w) + Duration::from_micros(100 * k)))
            .collect();
        let (change, _) = judge(&bursts);
        assert!(change.abs() < 0.05, "{change}");
        // A rate that doubles halfway (a transient) drifts, beyond its noise.
        let ramp: Vec<Duration> = (1..=20)
            .map(|i| ms(100 * i))
            .chain((1..=20).map(|i| ms(2000 + 50 * i)))
            .collect();
        let (change, significant) = judge(&ramp);
        assert!(change > 0.5 && significant, "{change}");
        // A noisy level rate (answers 50 or 150 ms apart, alternating) does not.
        let noisy: Vec<Duration> = (1..=60)
            .scan(ms(0), |t, i| {
                *t += ms(if i % 2 == 0 { 50 } else { 150 });
                Some(*t)
            })
            .collect();
        let (change, significant) = judge(&noisy);
        assert!(change.abs() < 0.1 || !significant, "{change}");
        // Answers thousands a second apart by microseconds are not one burst.
        let fast: Vec<Duration> = (1..=5000).map(|i| Duration::from_micros(200 * i)).collect();
        assert_eq!(batch_rates(ms(0), ms(1000), &fast).unwrap().len(), 10);
        assert_eq!(batch_rates(ms(0), ms(3000), &even[..9]), None);
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
