//! 1,000 concurrent `sleep` runs of 300 ms through one executor: with async execution they
//! finish in about 300 ms, not in waves of one per OS thread.
//!
//! `cargo run --release -p wow-runtime --example sleep_fanout -- [N] [MS]`

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use wow_protocol::{InitRequest, RunRequest};
use wow_runtime::{Executor, ExecutorConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let ms: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let artifacts = wow_artifacts::ensure_built_default()?;
    let wasm = std::fs::read(artifacts.wasm("sleep"))?;

    let config = ExecutorConfig::in_process();
    let exec = Executor::new(config)?;
    let code = base64::engine::general_purpose::STANDARD.encode(&wasm);
    exec.init(
        "sleep",
        InitRequest::binary("sleep", code, Default::default()),
    )
    .await
    .map_err(|f| anyhow::anyhow!("{f}"))?;
    let body = format!(r#"{{"value": {{"ms": {ms}}}}}"#);
    let req = Arc::new(RunRequest::parse(body.as_bytes()).map_err(|f| anyhow::anyhow!("{f}"))?);

    for round in ["warm-up", "measured"] {
        let t0 = Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let exec = exec.clone();
            let req = req.clone();
            tasks.push(tokio::spawn(async move { exec.run("sleep", &req).await }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await?.is_ok() {
                ok += 1;
            }
        }
        let wall = t0.elapsed();
        println!(
            "{round}: {ok}/{n} concurrent sleep({ms} ms) runs finished in {:.1} ms wall time ({} worker threads)",
            wall.as_secs_f64() * 1e3,
            tokio::runtime::Handle::current().metrics().num_workers()
        );
    }
    Ok(())
}
