//! `capacity`: how many concurrent in-flight I/O-bound invocations (`sleep`) each backend
//! sustains inside the memory budget while p99 latency stays within `p99_factor` × the sleep.
//! Docker scales by containers (each runs `per_sandbox_concurrency` processes at once), Wasm by
//! instances; both go through the same invoker with the same per-sandbox limit and no cap on
//! sandboxes but the budget.
//!
//! The load doubles from `start` until a step breaks (the latency bound, an error, the memory
//! budget, or sandboxes that cannot be started) or the ceiling holds; then it bisects between
//! the last step that held and the first that broke until they are within `resolution` of each
//! other. The capacity is the largest step that held, and the record says what broke and where.
//! The harness's own limits are sized for the ceiling, so what breaks is the backend: the
//! executor gets pool slots and a queue for every invocation of the ceiling, the client keeps a
//! connection per invocation, and the open-files limit is raised for both (when it cannot be,
//! the ceiling is lowered to what it allows, and the record says so).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::backend::{AnyBackend, Backend, BackendKind};
use crate::ctx::Ctx;
use crate::invoker::{Invoker, Policy};
use crate::loadgen;
use crate::recorder::SeriesKey;
use crate::suite::CapacitySpec;
use wow_records::{Config, Experiment, Measure, Metric, phase};

/// File descriptors the harness keeps for itself beside one socket per invocation in flight.
const SPARE_FDS: u64 = 256;

pub async fn run(ctx: &Ctx, spec: &CapacitySpec) -> Result<()> {
    let budget = ctx
        .device
        .memory_bytes
        .unwrap_or(spec.memory_budget_mb << 20);
    let bound_us = spec.sleep_ms as f64 * 1000.0 * spec.p99_factor;
    let (ceiling, lowered) = ceiling(spec.ceiling);
    if let Some(why) = &lowered {
        ctx.note(format!("capacity: {why}"));
    }
    let mut codes = HashMap::new();
    codes.insert("sleep".to_string(), ctx.code("sleep")?);
    let kinds: Vec<BackendKind> = [BackendKind::Wasm, BackendKind::Docker]
        .into_iter()
        .filter(|k| ctx.wants(*k))
        .collect();
    let bar = ctx.rec.bar(
        (kinds.len() as u32 * spec.repetitions) as u64,
        Experiment::Capacity.as_str(),
    );
    let search = Search {
        spec,
        limits: Limits { budget, bound_us },
        ceiling,
        lowered,
        codes,
    };
    for &kind in &kinds {
        let variant = super::throughput::default_variant(kind);
        let s = SeriesKey::new(
            Experiment::Capacity,
            kind.backend(),
            variant.as_str(),
            Config::Default,
            "sleep",
        );
        for rep in 0..spec.repetitions {
            bar.set_message(format!("{}, repetition {}", kind.as_str(), rep + 1));
            search.run(ctx, kind, &s, rep).await?;
            bar.inc(1);
        }
    }
    bar.finish_with_message("done");
    Ok(())
}

/// The ceiling the open-files limit allows (each invocation in flight holds a socket in the
/// harness and one in the executor), and why it is below the asked one.
fn ceiling(asked: u32) -> (u32, Option<String>) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain libc call on a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (asked, None);
    }
    let allowed = lim.rlim_cur.saturating_sub(SPARE_FDS).min(u32::MAX as u64) as u32;
    if allowed < asked {
        (
            allowed.max(1),
            Some(format!(
                "the ceiling is {allowed} in flight, not {asked}: the open-files limit is {} \
                 and could not be raised (that takes CAP_SYS_RESOURCE)",
                lim.rlim_cur
            )),
        )
    } else {
        (asked, None)
    }
}

/// The load after a step: double from the largest that held until one breaks (or the ceiling
/// holds), halve from the smallest that broke until one holds, then bisect between them until
/// the one that broke is within `resolution` above the one that held. `None`: the search is
/// over.
fn next_step(held: Option<u32>, broke: Option<u32>, ceiling: u32, resolution: f64) -> Option<u32> {
    match (held, broke) {
        (Some(h), None) if h >= ceiling => None,
        (Some(h), None) => Some(h.saturating_mul(2).min(ceiling)),
        (None, Some(b)) if b <= 1 => None,
        (None, Some(b)) => Some(b / 2),
        (Some(h), Some(b)) if b as f64 <= h as f64 * (1.0 + resolution) || b <= h + 1 => None,
        (Some(h), Some(b)) => Some(h + (b - h) / 2),
        (None, None) => None,
    }
}

/// CPU time this process has used, user and system, seconds.
fn own_cpu_s() -> f64 {
    // SAFETY: a plain libc call filling a local struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// What a step must stay within to count as held.
#[derive(Clone, Copy)]
struct Limits {
    /// Memory of everything the backend runs, bytes.
    budget: u64,
    /// p99 latency bound, µs.
    bound_us: f64,
}

struct Search<'a> {
    spec: &'a CapacitySpec,
    limits: Limits,
    ceiling: u32,
    lowered: Option<String>,
    codes: HashMap<String, crate::backend::ActionCode>,
}

/// A backend and the invoker in front of it, for the steps of one search.
struct Up {
    b: Arc<AnyBackend>,
    inv: Arc<Invoker<AnyBackend>>,
}

impl Search<'_> {
    /// One repetition of the search on one backend.
    async fn run(&self, ctx: &Ctx, kind: BackendKind, s: &SeriesKey, rep: u32) -> Result<()> {
        let spec = self.spec;
        let mut up: Option<Up> = None;
        let mut held: Option<u32> = None;
        let mut broke: Option<(u32, String)> = None;
        let mut n = spec.start.clamp(1, self.ceiling);
        let outcome = loop {
            ctx.rec.cancel.check()?;
            // Stepping down starts afresh, so no sandbox of a larger step is left over.
            let needed = (n as usize).div_ceil(spec.per_sandbox_concurrency as usize);
            if up
                .as_ref()
                .is_some_and(|u| u.inv.sandboxes().len() > needed)
                && let Some(u) = up.take()
            {
                u.inv.shutdown().await;
                ctx.release(&u.b).await;
            }
            if up.is_none() {
                up = Some(self.start(ctx, kind).await?);
            }
            let u = up.as_ref().expect("started above");
            match self.step(ctx, u, s, n, rep).await {
                Err(e) => break Err(e),
                Ok(None) => held = Some(n),
                Ok(Some(why)) => broke = Some((n, why)),
            }
            match next_step(
                held,
                broke.as_ref().map(|b| b.0),
                self.ceiling,
                spec.resolution,
            ) {
                Some(next) => n = next,
                None => break Ok(()),
            }
        };
        if let Some(u) = up.take() {
            u.inv.shutdown().await;
            ctx.release(&u.b).await;
        }
        outcome?;
        let what = match (&broke, held) {
            (Some((b, why)), Some(h)) => format!(
                "held at {h} in flight; broke at {b}: {why}; sized for {} in flight",
                self.ceiling
            ),
            (Some((b, why)), None) => format!("broke at {b}: {why}"),
            (None, _) => format!(
                "held at the ceiling, {} in flight{}",
                self.ceiling,
                self.lowered
                    .as_ref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            ),
        };
        let max = Measure::new(phase::MAX, Metric::Capacity);
        match held {
            Some(c) => ctx.rec.put_noted(s, 0, rep, max, c as f64, &what)?,
            None => ctx.rec.fail(s, 0, rep, max, &what)?,
        }
        ctx.note(format!(
            "capacity {} (repetition {}): {what}",
            s.backend,
            rep + 1
        ));
        Ok(())
    }

    /// A backend for the search, sized so that its own defaults are not what breaks: the
    /// executor gets a pool slot and a queue place for every invocation of the ceiling.
    async fn start(&self, ctx: &Ctx, kind: BackendKind) -> Result<Up> {
        let spec = self.spec;
        let variant = super::throughput::default_variant(kind);
        let b = match kind {
            BackendKind::Wasm => {
                let slots = self.ceiling.to_string();
                let sandboxes = self
                    .ceiling
                    .div_ceil(spec.per_sandbox_concurrency)
                    .max(10_000)
                    .to_string();
                ctx.wasm(
                    variant.as_str(),
                    &[
                        "--pool-slots",
                        &slots,
                        "--max-queue",
                        &slots,
                        "--max-sandboxes",
                        &sandboxes,
                    ],
                )
                .await?
            }
            BackendKind::Docker => {
                ctx.docker(variant.as_str(), spec.per_sandbox_concurrency)
                    .await?
            }
        };
        let inv = Arc::new(Invoker::new(
            b.clone(),
            Policy {
                max_sandboxes: usize::MAX,
                per_sandbox: spec.per_sandbox_concurrency as usize,
                keep_alive: None,
            },
            self.codes.clone(),
        ));
        Ok(Up { b, inv })
    }

    /// One load step of `inflight` invocations: `None` when it held, else what broke.
    async fn step(
        &self,
        ctx: &Ctx,
        u: &Up,
        s: &SeriesKey,
        inflight: u32,
        rep: u32,
    ) -> Result<Option<String>> {
        let spec = self.spec;
        let Limits { budget, bound_us } = self.limits;
        // Sandboxes for this step are started before the clock.
        let needed = (inflight as usize).div_ceil(spec.per_sandbox_concurrency as usize);
        if let Err(e) = u.inv.prepare("sleep", needed).await {
            return Ok(Some(format!(
                "could not start {needed} sandboxes for {inflight} in flight: {e:#}"
            )));
        }
        let (inv, p) = (u.inv.clone(), json!({ "ms": spec.sleep_ms }));
        let (cpu_before, wall) = (own_cpu_s(), std::time::Instant::now());
        let r = loadgen::closed_loop(
            inflight as usize,
            loadgen::Window::fixed(
                Duration::from_secs_f64(spec.sleep_ms as f64 / 1000.0 * 2.0),
                Duration::from_secs_f64(spec.window_s),
            ),
            &ctx.rec.cancel,
            move |_, _| {
                let (inv, p) = (inv.clone(), p.clone());
                async move { inv.invoke("sleep", &p).await.sample() }
            },
        )
        .await;
        // The harness's own share of the machine during the step: on a small machine the load
        // generator competes with the backend, and a reader should see how much.
        let harness_cores = (own_cpu_s() - cpu_before) / wall.elapsed().as_secs_f64();
        ctx.rec.cancel.check()?;
        u.b.healthy()?;
        super::throughput::record_load(ctx, s, inflight, rep, phase::STEP, &r)?;
        let mem = u.b.memory(&u.inv.sandboxes()).await?;
        let total = mem.total_bytes;
        let memory = Measure::new(phase::STEP, Metric::MemoryTotal);
        match total {
            Some(t) => ctx.rec.put(s, inflight, rep, memory, t)?,
            None => ctx.rec.fail(s, inflight, rep, memory, "not measurable")?,
        }
        let sandboxes = Measure::new(phase::STEP, Metric::Sandboxes);
        let count = u.inv.sandboxes().len() as f64;
        ctx.rec.put(s, inflight, rep, sandboxes, count)?;
        let p99 = r.quantile_us(0.99).unwrap_or(f64::INFINITY);
        let harness = format!(
            " (the harness itself used {harness_cores:.2} of {} cores)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        Ok(if r.errors > 0 {
            Some(format!(
                "{} errors (first: {}){harness}",
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            ))
        } else if p99 > bound_us {
            Some(format!(
                "p99 {:.0} ms > the bound, {:.0} ms{harness}",
                p99 / 1e3,
                bound_us / 1e3
            ))
        } else if total.is_some_and(|t| t > budget as f64) {
            Some(format!(
                "memory {:.0} MiB > the budget, {} MiB",
                total.unwrap_or(0.0) / 1048576.0,
                budget >> 20
            ))
        } else {
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::next_step;

    /// Walks the search against a backend that holds up to `cap` in flight.
    fn search(cap: u32, start: u32, ceiling: u32) -> (Option<u32>, Option<u32>, Vec<u32>) {
        let (mut held, mut broke, mut n, mut tried) = (None, None, start, vec![]);
        loop {
            tried.push(n);
            if n <= cap {
                held = held.max(Some(n));
            } else {
                broke = Some(broke.map_or(n, |b: u32| b.min(n)));
            }
            match next_step(held, broke, ceiling, 0.10) {
                Some(next) => n = next,
                None => return (held, broke, tried),
            }
        }
    }

    #[test]
    fn doubles_then_bisects_to_within_ten_percent() {
        let (held, broke, tried) = search(1000, 10, 20_000);
        let (h, b) = (held.unwrap(), broke.unwrap());
        assert!(
            h <= 1000 && b > 1000 && b as f64 <= h as f64 * 1.1,
            "{h} {b} {tried:?}"
        );
        assert_eq!(&tried[..8], &[10, 20, 40, 80, 160, 320, 640, 1280]);
    }

    #[test]
    fn stops_at_the_ceiling_and_halves_below_a_first_step_that_breaks() {
        let (held, broke, tried) = search(u32::MAX, 10, 20_000);
        assert_eq!((held, broke), (Some(20_000), None));
        assert_eq!(tried.last(), Some(&20_000));
        // Breaks at the first step: halves, then bisects.
        let (held, broke, _) = search(3, 10, 20_000);
        assert_eq!(held, Some(3));
        assert_eq!(broke, Some(4));
        // Nothing holds at all.
        let (held, broke, tried) = search(0, 10, 20_000);
        assert_eq!((held, broke), (None, Some(1)));
        assert_eq!(tried, [10, 5, 2, 1]);
    }
}
