//! Start-up ladder and warm path of the executor, with criterion.
//!
//! `cargo bench -p wow-runtime --bench startup` (add `-- --save-baseline NAME` to keep a
//! baseline, `-- --baseline NAME` to compare against it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use wow_protocol::InitRequest;
use wow_records::LadderStep;
use wow_runtime::engines::EngineName;
use wow_runtime::ladder::Ladder;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The engine benchmarked: `$WOW_RUNTIME_ENGINE`, else wasmtime (one engine per process, so one
/// per bench run: `WOW_RUNTIME_ENGINE=wasmi cargo bench -p wow-runtime --bench startup`).
fn engine() -> EngineName {
    std::env::var("WOW_RUNTIME_ENGINE")
        .ok()
        .map(|e| e.parse().expect("WOW_RUNTIME_ENGINE names an engine"))
        .unwrap_or(EngineName::Wasmtime)
}

fn workload_wasm(name: &str) -> Vec<u8> {
    let artifacts = wow_artifacts::ensure_built_default().expect("workloads build");
    let path = if engine().runs_simd() {
        artifacts.wasm(name)
    } else {
        artifacts.wasm_scalar(name)
    };
    std::fs::read(path).unwrap_or_else(|e| panic!("{name}.wasm: {e}"))
}

fn noop_wasm() -> Vec<u8> {
    workload_wasm("noop")
}

fn ladder(c: &mut Criterion) {
    let rt = runtime();
    let wasm = noop_wasm();
    let ladder = rt
        .block_on(Ladder::new(engine(), &wasm, "{}"))
        .expect("ladder");
    let mut g = c.benchmark_group("ladder");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function(LadderStep::Compile.as_str(), |b| {
        b.iter(|| ladder.compile())
    });
    g.sample_size(50).measurement_time(Duration::from_secs(3));
    g.bench_function(LadderStep::Deserialize.as_str(), |b| {
        b.iter(|| ladder.deserialize())
    });
    g.bench_function(LadderStep::DeserializeFile.as_str(), |b| {
        // The file's digest is checked before every load, untimed.
        b.iter_batched(
            || ladder.verified_file().expect("intact"),
            |file| file.load(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function(LadderStep::InstancePre.as_str(), |b| {
        b.iter(|| ladder.instance_pre())
    });
    let steps = ladder.steps();
    for (step, pooled) in [
        (LadderStep::InstantiateOndemand, false),
        (LadderStep::InstantiatePooled, true),
    ] {
        if !steps.contains(&step) {
            continue;
        }
        g.bench_function(step.as_str(), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        ladder.instantiate(pooled).await;
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.bench_function(LadderStep::RunFresh.as_str(), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += ladder.run_fresh().await;
                }
                total
            })
        })
    });
    if steps.contains(&LadderStep::RunPrewarmed) {
        g.bench_function(LadderStep::RunPrewarmed.as_str(), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += ladder.run_prewarmed().await;
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

fn warm_path(c: &mut Criterion) {
    let rt = runtime();
    let wasm = noop_wasm();
    let code = base64::engine::general_purpose::STANDARD.encode(&wasm);
    let mut config = wow_runtime::ExecutorConfig::in_process();
    config.engine = engine();
    let (exec, url) = rt.block_on(async {
        let exec = wow_runtime::Executor::new(config).expect("executor");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(wow_runtime::server::serve(exec.clone(), listener, None));
        (exec, url)
    });
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let init = InitRequest::binary("noop", code, Default::default());
        let r = client
            .post(format!("{url}/noop/init"))
            .json(&init)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    });

    let mut g = c.benchmark_group("warm");
    g.sample_size(50).measurement_time(Duration::from_secs(3));
    let run_url = format!("{url}/noop/run");
    g.bench_function("http_run_noop", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    let r = client
                        .post(&run_url)
                        .body(r#"{"value":{"hello":"world"}}"#)
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap();
                }
                t.elapsed()
            })
        })
    });
    // The precompiled cold start over HTTP: /init of `hash` (the cold-start experiment's
    // workload) shipping its module, whose artifact is already cached; the body is built
    // before the clock, as the harness does.
    let hash = base64::engine::general_purpose::STANDARD.encode(workload_wasm("hash"));
    let body = serde_json::to_vec(&InitRequest::binary("hash", hash, Default::default())).unwrap();
    rt.block_on(async {
        let r = client
            .post(format!("{url}/hash-warm/init"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    });
    let exec = Arc::clone(&exec);
    g.bench_function("http_init_precompiled_hash", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let id = format!("c{i}");
                    let body = body.clone();
                    let t = Instant::now();
                    let r = client
                        .post(format!("{url}/{id}/init"))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap();
                    total += t.elapsed();
                    exec.destroy(&id).unwrap();
                }
                total
            })
        })
    });
    g.finish();
}

criterion_group!(benches, ladder, warm_path);
criterion_main!(benches);
