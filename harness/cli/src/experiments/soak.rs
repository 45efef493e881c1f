//! Soak: steady mixed load through both backends for a long time, sampling what would reveal a
//! leak — the executor's RSS, open file descriptors and threads, and the number of live
//! containers — and reporting how each grew after a warm-up.
//!
//! The load cycles through more actions than the invoker keeps sandboxes for, so sandboxes are
//! evicted and started again the whole time: init, run and destroy paths all soak.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use crate::backend::{AnyBackend, Backend, BackendKind};
use crate::ctx::Ctx;
use crate::invoker::{Invoker, Policy};
use crate::procfs;
use crate::recorder::SeriesKey;
use crate::suite::SoakSpec;
use wow_records::{Backend as Side, Config, Experiment, Measure, Metric, Series, phase};

/// One reading.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub at: Duration,
    pub executor_rss: Option<u64>,
    pub executor_fds: Option<u64>,
    pub executor_threads: Option<u64>,
    pub containers: Option<u64>,
    pub requests: u64,
    pub errors: u64,
}

/// Growth of each sampled quantity from the first reading after the warm-up to the last one,
/// read back from the run's records.
#[derive(Debug, Default)]
pub struct SoakSummary {
    /// metric → (value after warm-up, last value, growth in percent, maximum)
    pub growth: Vec<(String, f64, f64, f64, f64)>,
    pub requests: f64,
    pub errors: f64,
    pub containers_left: Option<f64>,
    pub minutes: f64,
}

pub fn summarize(records: &[wow_records::Record], warmup_s: f64) -> SoakSummary {
    let samples: Vec<&wow_records::Record> = records
        .iter()
        .filter(|r| r.experiment == Experiment::Soak && r.phase == phase::SAMPLE && r.ok)
        .collect();
    let elapsed: HashMap<u32, f64> = samples
        .iter()
        .filter(|r| r.metric == Metric::Elapsed)
        .map(|r| (r.iteration, r.value))
        .collect();
    let series = |metric: Metric| -> Vec<(f64, f64)> {
        let mut v: Vec<(f64, f64)> = samples
            .iter()
            .filter(|r| r.metric == metric)
            .filter_map(|r| Some((*elapsed.get(&r.iteration)?, r.value)))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    };
    let mut out = SoakSummary::default();
    for metric in [
        Metric::ExecutorRss,
        Metric::ExecutorFds,
        Metric::ExecutorThreads,
        Metric::Containers,
    ] {
        let v = series(metric);
        let Some(start) = v.iter().find(|(t, _)| *t >= warmup_s).or(v.first()) else {
            continue;
        };
        let last = v.last().expect("non-empty");
        let max = v.iter().map(|(_, x)| *x).fold(f64::MIN, f64::max);
        let growth = (last.1 - start.1) / start.1.max(1.0) * 100.0;
        out.growth
            .push((metric.as_str().to_string(), start.1, last.1, growth, max));
    }
    out.requests = series(Metric::Requests).last().map_or(0.0, |x| x.1);
    out.errors = series(Metric::Errors).last().map_or(0.0, |x| x.1);
    out.minutes = series(Metric::Elapsed).last().map_or(0.0, |x| x.1 / 60.0);
    out.containers_left = records
        .iter()
        .find(|r| {
            r.experiment == Experiment::Soak
                && r.phase == phase::AFTER
                && r.metric == Metric::Containers
        })
        .map(|r| r.value);
    out
}

/// The actions the load cycles through: each workload twice, under distinct names.
fn actions() -> Vec<(String, &'static str, Value)> {
    let params = |w: &str| match w {
        "hash" => json!({"iterations": 20_000}),
        "prime" => json!({"n": 50_000}),
        "sleep" => json!({"ms": 50}),
        "json" => json!({"items": 200}),
        "image" => json!({"width": 64, "height": 64}),
        _ => json!({"soak": true}),
    };
    let mut out = Vec::new();
    for copy in 0..2 {
        for w in wow_artifacts::WORKLOADS {
            out.push((format!("{w}-{copy}"), w, params(w)));
        }
    }
    out
}

pub async fn run(ctx: &Ctx, spec: &SoakSpec) -> Result<()> {
    let actions = Arc::new(actions());
    let mut codes = HashMap::new();
    for (name, w, _) in actions.iter() {
        codes.insert(name.clone(), ctx.code(w)?);
    }
    let policy = Policy {
        max_sandboxes: 6,
        per_sandbox: 4,
        keep_alive: Some(Duration::from_secs(20)),
    };
    let mut invokers: Vec<(BackendKind, Arc<AnyBackend>, Arc<Invoker<AnyBackend>>)> = Vec::new();
    for kind in [BackendKind::Wasm, BackendKind::Docker] {
        if ctx.wants(kind) {
            let b = ctx
                .backend(
                    kind,
                    crate::experiments::throughput::default_variant(kind),
                    4,
                )
                .await?;
            let inv = Arc::new(Invoker::new(b.clone(), policy.clone(), codes.clone()));
            invokers.push((kind, b, inv));
        }
    }
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let duration = Duration::from_secs_f64(spec.minutes * 60.0);
    let sample_every = Duration::from_secs_f64(spec.sample_s);
    let end = Instant::now() + duration;
    let mut clients = Vec::new();
    for (_, _, inv) in &invokers {
        for c in 0..spec.clients as usize {
            let (inv, actions, requests, errors, first_error, cancel) = (
                inv.clone(),
                actions.clone(),
                requests.clone(),
                errors.clone(),
                first_error.clone(),
                ctx.rec.cancel.clone(),
            );
            clients.push(tokio::spawn(async move {
                let mut i = c;
                while Instant::now() < end && !cancel.is_cancelled() {
                    let (name, _, params) = &actions[i % actions.len()];
                    let o = inv.invoke(name, params).await;
                    requests.fetch_add(1, Ordering::Relaxed);
                    if !o.ok() {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error
                            .lock()
                            .unwrap()
                            .get_or_insert(o.error_text().unwrap_or_default());
                    }
                    i += 7;
                }
            }));
        }
    }

    let wasm = invokers
        .iter()
        .find(|(k, _, _)| *k == BackendKind::Wasm)
        .map(|(_, b, _)| b.clone());
    let docker = invokers
        .iter()
        .find(|(k, _, _)| *k == BackendKind::Docker)
        .map(|(_, b, _)| b.clone());
    let start = Instant::now();
    let bar = ctx.rec.bar(duration.as_secs(), Experiment::Soak.as_str());
    let s = SeriesKey::new(
        Experiment::Soak,
        Side::Both,
        Series::Steady.as_str(),
        Config::Default,
        "mixed",
    );
    let mut n = 0u32;
    loop {
        let reading = read(
            start,
            wasm.as_deref(),
            docker.as_deref(),
            &requests,
            &errors,
        )
        .await;
        record(ctx, &s, n, &reading)?;
        n += 1;
        bar.set_position(start.elapsed().as_secs().min(duration.as_secs()));
        if Instant::now() >= end || ctx.rec.cancel.is_cancelled() {
            break;
        }
        if let Some(w) = &wasm {
            w.healthy()?;
        }
        let _ = ctx
            .rec
            .cancel
            .sleep(sample_every.min(end - Instant::now()))
            .await;
    }
    for c in clients {
        let _ = c.await;
    }
    // One last reading once the load has stopped.
    let reading = read(
        start,
        wasm.as_deref(),
        docker.as_deref(),
        &requests,
        &errors,
    )
    .await;
    record(ctx, &s, n, &reading)?;
    bar.finish_and_clear();
    for (_, _, inv) in &invokers {
        inv.shutdown().await;
    }
    for (_, b, _) in &invokers {
        ctx.release(b).await;
    }
    if let Some(AnyBackend::Docker(d)) = docker.as_deref()
        && let Some(left) = engine_containers(d).await
    {
        let m = Measure::new(phase::AFTER, Metric::Containers);
        ctx.rec.put(&s, 0, 0, m, left as f64)?;
    }
    if let Some(e) = first_error.lock().unwrap().clone() {
        ctx.note(format!("soak: first error: {e}"));
    }
    Ok(())
}

async fn read(
    start: Instant,
    wasm: Option<&AnyBackend>,
    docker: Option<&AnyBackend>,
    requests: &AtomicU64,
    errors: &AtomicU64,
) -> Reading {
    let pid = match wasm {
        Some(AnyBackend::Wasm(w)) => w.pid(),
        _ => None,
    };
    let containers = match docker {
        Some(AnyBackend::Docker(d)) => engine_containers(d).await,
        _ => None,
    };
    Reading {
        at: start.elapsed(),
        executor_rss: pid.and_then(|p| procfs::rss_bytes(p).ok()),
        executor_fds: pid.and_then(|p| procfs::open_fds(p).ok()),
        executor_threads: pid.and_then(|p| procfs::threads(p).ok()),
        containers,
        requests: requests.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Containers of this run on the engine, counted there (not from the backend's own list, so a
/// container the backend lost track of still shows).
async fn engine_containers(d: &crate::backend::docker::DockerBackend) -> Option<u64> {
    let label = format!("wowbench.run={}", d.run_id());
    crate::backend::docker::list_with_labels(d.docker(), &[label.as_str()])
        .await
        .ok()
        .map(|v| v.len() as u64)
}

fn record(ctx: &Ctx, s: &SeriesKey, i: u32, r: &Reading) -> Result<()> {
    let rec = &ctx.rec;
    let sample = |metric| Measure::new(phase::SAMPLE, metric);
    rec.put(s, 0, i, sample(Metric::Elapsed), r.at.as_secs_f64())?;
    for (metric, v) in [
        (Metric::ExecutorRss, r.executor_rss),
        (Metric::ExecutorFds, r.executor_fds),
        (Metric::ExecutorThreads, r.executor_threads),
        (Metric::Containers, r.containers),
        (Metric::Requests, Some(r.requests)),
        (Metric::Errors, Some(r.errors)),
    ] {
        if let Some(v) = v {
            rec.put(s, 0, i, sample(metric), v as f64)?;
        }
    }
    Ok(())
}
