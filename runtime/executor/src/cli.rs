//! The command line of the executor server, shared by the `wow-runtime` binary and the
//! harness (which starts the executor as a process of its own).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{CacheConfig, PoolConfig, PrewarmConfig};
use crate::engines::EngineName;
use crate::{AllocatorChoice, Executor, ExecutorConfig, Limits};
use anyhow::Context;

/// A WOW-style WebAssembly action executor: OpenWhisk's action protocol, many sandboxes per
/// process, a compiled-artifact cache and a pre-warm pool, on wasmtime, wasmer, WAMR or wasmi.
#[derive(clap::Parser, Debug)]
#[command(name = "wow-runtime", version, about)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "WOW_RUNTIME_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    auth: wow_protocol::auth::AuthArgs,
    /// Linear-memory cap per instance, MiB.
    #[arg(long, env = "WOW_RUNTIME_MEMORY_MB", default_value_t = 256)]
    memory_mb: u64,
    /// Deadline of a run whose request carries none, ms.
    #[arg(long, env = "WOW_RUNTIME_TIMEOUT_MS", default_value_t = 60_000)]
    timeout_ms: u64,
    /// The longest a run may take whatever deadline its request carries, ms (OpenWhisk's
    /// maximum action time).
    #[arg(long, env = "WOW_RUNTIME_MAX_TIMEOUT_MS", default_value_t = 300_000)]
    max_timeout_ms: u64,
    /// Cap on one run's stdout and on its stderr, bytes.
    #[arg(long, env = "WOW_RUNTIME_OUTPUT_BYTES", default_value_t = 16 * 1024 * 1024)]
    output_bytes: usize,
    /// Runs of one sandbox in flight at once (more wait); 0 = no limit.
    #[arg(long, env = "WOW_RUNTIME_CONCURRENCY", default_value_t = 0)]
    concurrency: u32,
    /// The Wasm engine (one per process; a build has the engines of its cargo features).
    #[arg(long, env = "WOW_RUNTIME_ENGINE", default_value_t = EngineName::Wasmtime,
          value_parser = |s: &str| s.parse::<EngineName>().map_err(|e| e.to_string()))]
    engine: EngineName,
    /// Instance allocation (wasmtime).
    #[arg(long, env = "WOW_RUNTIME_ALLOCATOR", value_enum, default_value_t = AllocatorChoice::Auto)]
    allocator: AllocatorChoice,
    /// Pooling-allocator slots (concurrent instances).
    #[arg(long, env = "WOW_RUNTIME_POOL_SLOTS", default_value_t = 2000)]
    pool_slots: u32,
    /// Address space reserved per linear memory in the pool, MiB (4096 lets compiled code skip
    /// bounds checks).
    #[arg(
        long,
        env = "WOW_RUNTIME_MEMORY_RESERVATION_MB",
        default_value_t = 4096
    )]
    memory_reservation_mb: u64,
    /// Keep pre-warmed instances for busy sandboxes.
    #[arg(long, env = "WOW_RUNTIME_PREWARM", default_value_t = true, action = clap::ArgAction::Set)]
    prewarm: bool,
    /// Most pre-warmed instances per sandbox.
    #[arg(long, env = "WOW_RUNTIME_PREWARM_MAX", default_value_t = 8)]
    prewarm_max: usize,
    /// Memory budget of all pre-warmed instances, MiB (estimated per instance).
    #[arg(long, env = "WOW_RUNTIME_PREWARM_BUDGET_MB", default_value_t = 64)]
    prewarm_budget_mb: u64,
    /// Folder of the compiled-artifact cache (default: ~/.cache/wow-runtime).
    #[arg(long, env = "WOW_RUNTIME_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Keep compiled artifacts in memory only.
    #[arg(long, env = "WOW_RUNTIME_NO_DISK_CACHE")]
    no_disk_cache: bool,
    /// Bound of the on-disk artifact cache, MiB.
    #[arg(long, env = "WOW_RUNTIME_CACHE_MB", default_value_t = 1024)]
    cache_mb: u64,
    /// Most sandboxes alive at once.
    #[arg(long, env = "WOW_RUNTIME_MAX_SANDBOXES", default_value_t = 10_000)]
    max_sandboxes: usize,
    /// Linear memory all live instances may hold together, MiB; runs that do not fit wait
    /// (default: the machine's physical memory).
    #[arg(long, env = "WOW_RUNTIME_MEMORY_BUDGET_MB")]
    memory_budget_mb: Option<u64>,
    /// Runs allowed to wait (for their sandbox's concurrency, a pool slot or memory); past
    /// them `/run` answers 429.
    #[arg(long, env = "WOW_RUNTIME_MAX_QUEUE", default_value_t = 1024)]
    max_queue: usize,
    /// Most compiled code all sandboxes may hold, MiB (a module shared by many sandboxes
    /// counts once); past it `/init` of new code answers 429.
    #[arg(long, env = "WOW_RUNTIME_CODE_BUDGET_MB", default_value_t = 512)]
    code_budget_mb: u64,
    /// Compiles running at once, more wait (default: one per core).
    #[arg(long, env = "WOW_RUNTIME_COMPILE_CONCURRENCY")]
    compile_concurrency: Option<usize>,
    /// Do not write guest logs and activation sentinels to stdout/stderr.
    #[arg(long, env = "WOW_RUNTIME_QUIET_GUESTS")]
    quiet_guests: bool,
    /// Tokio worker threads (default: one per core).
    #[arg(long, env = "WOW_RUNTIME_WORKERS")]
    workers: Option<usize>,
}

impl Args {
    pub fn config(&self) -> ExecutorConfig {
        let default_cache = CacheConfig::default();
        ExecutorConfig {
            engine: self.engine,
            limits: Limits {
                memory_bytes: self.memory_mb << 20,
                default_timeout: Duration::from_millis(self.timeout_ms),
                max_timeout: Duration::from_millis(self.max_timeout_ms),
                stdout_bytes: self.output_bytes,
                stderr_bytes: self.output_bytes,
                concurrency: self.concurrency,
            },
            allocator: self.allocator,
            pool: PoolConfig {
                slots: self.pool_slots,
                memory_reservation: self.memory_reservation_mb << 20,
            },
            prewarm: PrewarmConfig {
                enabled: self.prewarm,
                max_per_sandbox: self.prewarm_max,
                budget_bytes: self.prewarm_budget_mb << 20,
            },
            cache: CacheConfig {
                dir: if self.no_disk_cache {
                    None
                } else {
                    self.cache_dir.clone().or(default_cache.dir)
                },
                max_disk_bytes: self.cache_mb << 20,
                max_memory_entries: default_cache.max_memory_entries,
                compile_concurrency: self.compile_concurrency.unwrap_or(0),
            },
            max_sandboxes: self.max_sandboxes,
            code_budget_bytes: self.code_budget_mb << 20,
            memory_budget_bytes: self.memory_budget_mb.map_or(0, |mb| mb << 20),
            max_queue: self.max_queue,
            guest_logs: !self.quiet_guests,
            ..ExecutorConfig::default()
        }
    }
}

/// Runs the executor server until SIGINT/SIGTERM.
pub fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.workers {
        rt.worker_threads(n);
    }
    let token = args.auth.token().map_err(anyhow::Error::msg)?;
    rt.build()?.block_on(async {
        let exec = Executor::new(args.config())?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        // The first stdout line says where we listen (with `--listen 127.0.0.1:0` the port is
        // only known here); whoever started us waits for it.
        println!("wow-runtime listening on {}", listener.local_addr()?);
        crate::inject::announce();
        if token.is_some() {
            tracing::info!("a bearer token is required on every route but /health");
        }
        crate::server::serve(exec, listener, token).await?;
        Ok(())
    })
}
