//! Command-line options. Every option also reads an environment variable, because the harness
//! configures containers through their environment, not their command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use wow_protocol::PROXY_PORT;
use wow_protocol::auth::AuthArgs;

/// How `/run` executes the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecMode {
    /// A fresh process per activation, as OpenWhisk's `dockerskeleton`.
    Spawn,
    /// Long-lived processes fed one activation per stdin line, as OpenWhisk's Go action loop.
    Actionloop,
}

impl ExecMode {
    pub fn name(self) -> &'static str {
        match self {
            ExecMode::Spawn => "spawn",
            ExecMode::Actionloop => "actionloop",
        }
    }
}

/// OpenWhisk action proxy for native actions: `POST /init` receives the executable, `POST /run`
/// runs it with the parameters as JSON on stdin.
#[derive(Debug, Clone, Parser)]
#[command(name = "wow-proxy", version)]
pub struct Options {
    /// Address to listen on. Loopback by default: `/init` installs code that `/run` executes, so
    /// listen wider (`0.0.0.0:8080` inside a container) only where nothing untrusted can connect,
    /// or with a token.
    #[arg(long, env = "WOW_PROXY_LISTEN", default_value_t = SocketAddr::from(([127, 0, 0, 1], PROXY_PORT)))]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// `spawn`: a fresh process per run. `actionloop`: long-lived processes, one run at a time each.
    #[arg(long, env = "WOW_PROXY_EXEC_MODE", value_enum, default_value_t = ExecMode::Spawn)]
    pub exec_mode: ExecMode,

    /// Runs in flight at once; further runs wait in a queue. In actionloop mode, also the most
    /// action processes kept.
    #[arg(long, env = "WOW_PROXY_CONCURRENCY", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,

    /// Runs allowed to wait for a free slot; past them `/run` answers 429.
    #[arg(long, env = "WOW_PROXY_MAX_QUEUE", default_value_t = 1024)]
    pub max_queue: usize,

    /// Directory the action's executable is written to (created if missing); also the action's
    /// working directory.
    #[arg(long, env = "WOW_PROXY_ACTION_DIR", default_value = "/action")]
    pub action_dir: PathBuf,

    /// Time limit of a run whose request carries no `deadline`, in milliseconds.
    #[arg(long, env = "WOW_PROXY_DEFAULT_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub default_timeout_ms: u64,

    /// Most bytes a run may write to stdout, and separately to stderr; past it the run is killed.
    /// Keep it above the 1 MiB result limit.
    #[arg(long, env = "WOW_PROXY_MAX_OUTPUT_BYTES", default_value_t = 16 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_output_bytes: u64,
}
