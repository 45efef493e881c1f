//! `wowbench`: the harness CLI. One module per subcommand under `cmd/`.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Benchmarks a WOW-style WebAssembly serverless runtime against Docker containers: cold start,
/// memory and throughput, with identical workloads, one client and one clock.
#[derive(Parser)]
#[command(name = "wowbench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run experiments or suites (`quick`, `paper`, `paper-edge`, `full`, `ci`, a `.toml` file)
    /// and write a run folder; its path is the last line of output.
    Run(cmd::run::RunArgs),
    /// List experiments, suites, workloads, variants and device profiles.
    List(cmd::list::ListArgs),
    /// Write a run folder's report: charts, report.md and index.html.
    Report(cmd::report::ReportArgs),
    /// Compare two run folders group by group and fail (exit 1) on a significant regression.
    Compare(cmd::compare::CompareArgs),
    /// Keep steady mixed load on both backends for a while and report how the executor's memory,
    /// descriptors and threads grew, and whether containers were left behind.
    Soak(cmd::soak::SoakArgs),
    /// Build the workloads for wasm32-wasip1 and static musl, and the action proxy (skips what
    /// is up to date).
    Build(cmd::build::BuildArgs),
    /// Remove every Docker container (and, with --images, image) labelled wowbench=1, e.g. after
    /// a crashed run.
    Clean(cmd::clean::CleanArgs),
    /// Print 20 Docker cold starts of one workload broken into create / start / ready / init /
    /// first run, and the memory of one warm container by both methods.
    DockerProbe(cmd::docker_probe::DockerProbeArgs),
    /// Serve the Wasm executor (the same server as the `wow-runtime` binary); the harness starts
    /// it as a process of its own.
    #[command(hide = true)]
    Executor(wow_runtime::cli::Args),
    /// Time one engine's start-up ladder in a process of its own (the `ladder` experiment
    /// starts it).
    #[command(hide = true, name = "executor-ladder")]
    ExecutorLadder(wowbench::experiments::ladder_child::LadderChildArgs),
}

/// Runs the subcommand; an error is printed as `Error: …` and exits 1 (as a `Result` returned
/// from `main` would), and a subcommand may choose another exit status.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let outcome = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::List(args) => done(cmd::list::run(args)),
        Command::Report(args) => done(cmd::report::run(args)),
        Command::Soak(args) => cmd::soak::run(args),
        Command::Compare(args) => Ok(cmd::compare::run(args)),
        Command::Build(args) => done(cmd::build::run(args)),
        Command::Clean(args) => done(cmd::clean::run(args)),
        Command::DockerProbe(args) => cmd::docker_probe::run(args),
        Command::Executor(args) => done(wow_runtime::cli::run(args)),
        Command::ExecutorLadder(args) => done(wowbench::experiments::ladder_child::run(args)),
    };
    outcome.unwrap_or_else(|e| {
        eprintln!("Error: {e:?}");
        ExitCode::FAILURE
    })
}
