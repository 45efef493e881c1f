//! `throughput`: closed-loop clients per workload mix through the shared invoker, with the same
//! sandbox cap and per-sandbox concurrency limit for both backends.
//!
//! Configurations: `paper` reproduces the paper's OpenWhisk (at most 4 sandboxes, concurrency
//! limit 10 for the mixed workload and 3 for the others, and the Docker proxy running one
//! action at a time per container as `dockerskeleton` did); `fair` gives Docker's proxy the same
//! concurrency as the Wasm sandbox. Both are reported, named. The load generator's own ceiling
//! is measured first against a trivial endpoint, so a reader can see it is not the bottleneck.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::backend::{AnyBackend, Backend, BackendKind};
use crate::ctx::Ctx;
use crate::experiments::order;
use crate::invoker::{Invoker, Policy};
use crate::loadgen::{self, LoadResult, Sample, Steadiness};
use crate::recorder::SeriesKey;
use crate::rng::Rng;
use crate::suite::ThroughputSpec;
use wow_records::{Backend as Side, Config, Experiment, Measure, Metric, Series, phase};

/// The series name each backend's default sandboxes carry in load experiments.
pub fn default_variant(kind: BackendKind) -> Series {
    match kind {
        BackendKind::Wasm => Series::Precompiled,
        BackendKind::Docker => Series::CreateStart,
    }
}

/// A mix: its record name and the actions it draws from.
pub struct Mix {
    pub workload: &'static str,
    pub cpu_share: f64,
    pub per_sandbox_paper: u32,
}

pub fn mix(name: &str) -> Result<Mix> {
    Ok(match name {
        "cpu" => Mix {
            workload: "hash",
            cpu_share: 1.0,
            per_sandbox_paper: 3,
        },
        "io" => Mix {
            workload: "sleep",
            cpu_share: 0.0,
            per_sandbox_paper: 3,
        },
        "mixed" => Mix {
            workload: "mixed",
            cpu_share: 0.5,
            per_sandbox_paper: 10,
        },
        other => anyhow::bail!("unknown mix {other:?} (cpu, io, mixed)"),
    })
}

/// Whether request `seq` of `client` is CPU-bound: a fixed sequence, the same for both backends.
pub fn is_cpu(seed: u64, share: f64, client: usize, seq: u64) -> bool {
    share >= 1.0 || (share > 0.0 && Rng::new(seed ^ ((client as u64) << 40) ^ seq).unit() < share)
}

/// Runs the experiment on one side, or on the sides of a paired run together: each side's
/// backend and invoker are up at once, and every window of one side is followed by the same
/// window on the other, the order turning each time (the caller turns the sides' order per
/// block). A slow spell of the machine then falls on both sides alike.
pub async fn run(sides: &[&Ctx], spec: &ThroughputSpec) -> Result<()> {
    // Once per run and side: it measures the client, not a backend.
    for ctx in sides {
        if !ctx
            .ceiling_measured
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            measure_ceiling(ctx).await?;
        }
    }
    let ctx = sides[0];
    let needs_hash = spec.mixes.iter().any(|m| m != "io");
    let iterations = if needs_hash {
        ctx.hash_iterations(spec.hash_target_ms)?
    } else {
        0
    };
    let cpu_params = Arc::new(json!({ "iterations": iterations }));
    let io_params = Arc::new(json!({ "ms": spec.sleep_ms }));
    let mut codes = HashMap::new();
    codes.insert("hash".to_string(), ctx.code("hash")?);
    codes.insert("sleep".to_string(), ctx.code("sleep")?);

    let series = ctx.series(&spec.wasm_variants, &spec.docker_variants);
    let total = (spec.configs.len() * spec.mixes.len() * series.len() * spec.clients.len()) as u64
        * spec.repetitions as u64
        * sides.len() as u64;
    let bar = ctx.rec.bar(total, Experiment::Throughput.as_str());
    for &config in &spec.configs {
        for mix_name in &spec.mixes {
            let mix = mix(mix_name)?;
            let limit = mix.per_sandbox_paper;
            for &(kind, variant) in &series {
                let proxy_concurrency = if config == Config::Paper { 1 } else { limit };
                let mut up = Vec::with_capacity(sides.len());
                let mut started = Ok(());
                for c in sides {
                    match c.backend(kind, variant, proxy_concurrency).await {
                        Ok(b) => up.push(b),
                        Err(e) => {
                            started = Err(e);
                            break;
                        }
                    }
                }
                let requests: Vec<MixRequests> = up
                    .iter()
                    .map(|b| MixRequests {
                        inv: Arc::new(Invoker::new(
                            b.clone(),
                            Policy {
                                max_sandboxes: spec.max_sandboxes as usize,
                                per_sandbox: limit as usize,
                                keep_alive: None,
                            },
                            codes.clone(),
                        )),
                        cpu: cpu_params.clone(),
                        io: io_params.clone(),
                        seed: spec.seed,
                        share: mix.cpu_share,
                    })
                    .collect();
                let s = SeriesKey::new(
                    Experiment::Throughput,
                    kind.backend(),
                    variant.as_str(),
                    config,
                    mix.workload,
                );
                let r = match started {
                    Ok(()) => levels(sides, spec, &s, &requests, &bar).await,
                    Err(e) => Err(e),
                };
                for (c, (req, b)) in sides.iter().zip(requests.iter().zip(&up)) {
                    req.inv.shutdown().await;
                    c.release(b).await;
                }
                r?;
            }
        }
    }
    bar.finish_with_message("done");
    Ok(())
}

/// The requests of a mix: which action request `seq` of `client` calls, with its parameters.
#[derive(Clone)]
struct MixRequests {
    inv: Arc<Invoker<AnyBackend>>,
    cpu: Arc<Value>,
    io: Arc<Value>,
    seed: u64,
    share: f64,
}

impl MixRequests {
    fn send(&self, client: usize, seq: u64) -> impl Future<Output = Sample> + Send + use<> {
        let (action, params) = if is_cpu(self.seed, self.share, client, seq) {
            ("hash", self.cpu.clone())
        } else {
            ("sleep", self.io.clone())
        };
        let inv = self.inv.clone();
        async move { inv.invoke(action, &params).await.sample() }
    }
}

/// Every level of a series, on each side (`requests[j]` drives `sides[j]`): the sandboxes
/// started, then the windows, the sides taking turns.
async fn levels(
    sides: &[&Ctx],
    spec: &ThroughputSpec,
    s: &SeriesKey,
    requests: &[MixRequests],
    bar: &crate::progress::Progress,
) -> Result<()> {
    let warmup = Duration::from_secs_f64(spec.warmup_s);
    let window = Duration::from_secs_f64(spec.window_s);
    let adaptive = loadgen::Window {
        warmup,
        min: window,
        max: Duration::from_secs_f64(
            spec.window_max_s
                .unwrap_or(spec.window_s)
                .max(spec.window_s),
        ),
        per_client: spec.steady_per_client,
        max_drift: spec.steady_drift,
    };
    for &clients in &spec.clients {
        bar.set_message(format!(
            "{} {} {} {}, {clients} clients",
            s.config,
            s.workload,
            s.backend.as_str(),
            s.variant
        ));
        // An adaptive warm-up lasts until every client has had an answer, which starts the
        // sandboxes; a fixed one is primed first.
        if spec.window_max_s.is_none() {
            for r in requests {
                prime(r, clients as usize).await;
            }
        }
        for rep in 0..spec.repetitions {
            for j in order(sides.len(), rep) {
                let (ctx, reqs) = (sides[j], requests[j].clone());
                ctx.rec.cancel.check()?;
                let r = loadgen::closed_loop(
                    clients as usize,
                    adaptive,
                    &ctx.rec.cancel,
                    move |c, n| reqs.send(c, n),
                )
                .await;
                ctx.rec.cancel.check()?;
                requests[j].inv.backend().healthy()?;
                record_load(ctx, s, clients, rep, phase::WARM, &r)?;
                bar.inc(1);
            }
        }
        for (i, &rate) in spec.open_loop_rps.iter().enumerate() {
            for j in order(sides.len(), i as u32) {
                let (ctx, reqs) = (sides[j], requests[j].clone());
                let r = loadgen::open_loop(
                    rate,
                    warmup,
                    window,
                    spec.seed,
                    10_000,
                    &ctx.rec.cancel,
                    move |n| reqs.send(0, n),
                )
                .await;
                record_load(ctx, s, rate.round() as u32, 0, phase::OPEN_LOOP, &r)?;
            }
        }
    }
    Ok(())
}

/// Starts the sandboxes a load of `clients` keeps busy before the clock: one request per client,
/// all at once, as the load's first requests arrive. The warm-up and the window then see warm
/// sandboxes on any machine; a short warm-up otherwise let Docker's container starts (some
/// 250 ms each, longer on a busy machine) run into the window. A failure here shows again in
/// the window, where it is recorded.
async fn prime(requests: &MixRequests, clients: usize) {
    futures::future::join_all((0..clients).map(|c| requests.send(c, 0))).await;
}

/// The latency percentiles a load phase records, with their quantiles.
pub const LATENCY_QUANTILES: [(Metric, f64); 4] = [
    (Metric::LatencyP50, 0.5),
    (Metric::LatencyP90, 0.9),
    (Metric::LatencyP99, 0.99),
    (Metric::LatencyMax, 1.0),
];

/// Throughput, latency percentiles, errors and the full histogram of one load phase.
pub fn record_load(
    ctx: &Ctx,
    s: &SeriesKey,
    x: u32,
    rep: u32,
    phase: &str,
    r: &LoadResult,
) -> Result<()> {
    let rec = &ctx.rec;
    let m = |metric| Measure::new(phase, metric);
    rec.put(s, x, rep, m(Metric::Throughput), r.throughput())?;
    rec.put(s, x, rep, m(Metric::Errors), r.errors as f64)?;
    rec.put(s, x, rep, m(Metric::ColdStarts), r.cold as f64)?;
    for (metric, q) in LATENCY_QUANTILES {
        match r.quantile_us(q) {
            Some(v) => rec.put(s, x, rep, m(metric), v)?,
            None => rec.fail(s, x, rep, m(metric), "no request completed in the window")?,
        }
    }
    if let Some(steady) = match &r.steadiness {
        Steadiness::Steady => Some(true),
        Steadiness::NotSteady(_) => Some(false),
        Steadiness::Unjudged => None,
    } {
        rec.put(s, x, rep, m(Metric::Steady), if steady { 1.0 } else { 0.0 })?;
        rec.put(s, x, rep, m(Metric::InFlight), r.in_flight as f64)?;
        rec.put(s, x, rep, m(Metric::Elapsed), r.window.as_secs_f64())?;
    }
    if let Steadiness::NotSteady(why) = &r.steadiness {
        ctx.note(format!(
            "{} {} {} {} at {x}, repetition {rep}: not steady ({why})",
            s.experiment, s.backend, s.config, s.workload
        ));
    }
    if !r.hist.is_empty() {
        rec.histogram(&rec.key(s, x, Measure::latency(phase)), &r.hist)?;
    }
    if r.errors > 0 {
        ctx.note(format!(
            "{} {} {} {} at {x}: {} errors, first: {}",
            s.experiment,
            s.backend,
            s.config,
            s.workload,
            r.errors,
            r.first_error.as_deref().unwrap_or("?")
        ));
    }
    Ok(())
}

/// The load generator against a trivial in-process endpoint: the most it can drive here.
async fn measure_ceiling(ctx: &Ctx) -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/run", listener.local_addr()?);
    let app = axum::Router::new().route("/run", axum::routing::post(|| async { "{}" }));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = ctx.client.clone();
    let clients = 64;
    let r = loadgen::closed_loop(
        clients,
        loadgen::Window::fixed(Duration::from_millis(500), Duration::from_secs(2)),
        &ctx.rec.cancel,
        move |_, _| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let body = bytes::Bytes::from_static(br#"{"value":{}}"#);
                match client.run(&url, body).await {
                    Ok(r) => Sample {
                        latency: r.elapsed,
                        ok: r.status == 200,
                        cold: false,
                        error: None,
                    },
                    Err(e) => Sample {
                        latency: Duration::ZERO,
                        ok: false,
                        cold: false,
                        error: Some(format!("{e:#}")),
                    },
                }
            }
        },
    )
    .await;
    server.abort();
    let s = SeriesKey::new(
        Experiment::Throughput,
        Side::Client,
        Series::Loopback.as_str(),
        Config::Default,
        "trivial",
    );
    record_load(ctx, &s, clients as u32, 0, phase::CEILING, &r)?;
    ctx.rec.note(&format!(
        "load generator ceiling: {:.0} requests/s with {clients} clients against a trivial endpoint",
        r.throughput()
    ));
    Ok(())
}
