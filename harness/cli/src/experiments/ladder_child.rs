//! `wowbench executor-ladder` (hidden): the start-up ladder of one engine, in a process of its
//! own — one engine per process, and in the device's cgroup like an executor — printing one JSON
//! line per timed step for the `ladder` experiment to record.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use wow_records::Engine;
use wow_runtime::ladder::Ladder;

#[derive(clap::Args, Debug)]
pub struct LadderChildArgs {
    /// The engine whose steps are timed.
    #[arg(long, value_parser = |s: &str| s.parse::<Engine>().map_err(|e| e.to_string()))]
    pub engine: Engine,
    /// The module (a WASI command).
    #[arg(long)]
    pub wasm: PathBuf,
    /// The run's parameters, a JSON object.
    #[arg(long, default_value = "{}")]
    pub params: String,
    #[arg(long, default_value_t = 1)]
    pub repetitions: u32,
}

/// One timed step, as printed.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct StepTime {
    pub rep: u32,
    pub step: wow_records::LadderStep,
    pub ns: u64,
}

pub fn run(args: LadderChildArgs) -> Result<()> {
    let wasm = std::fs::read(&args.wasm)
        .with_context(|| format!("cannot read {}", args.wasm.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let ladder = Ladder::new(args.engine, &wasm, &args.params).await?;
        let steps = ladder.steps();
        let mut out = std::io::stdout().lock();
        for rep in 0..args.repetitions {
            for &step in &steps {
                let d = ladder.time(step).await?;
                let line = StepTime {
                    rep,
                    step,
                    ns: d.as_nanos() as u64,
                };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
                out.flush()?;
            }
        }
        Ok(())
    })
}
