//! The executor's settings: sandbox limits, instance allocation, artifact cache and pre-warm
//! pool. Defaults follow OpenWhisk's action limits where it has one.

use std::path::PathBuf;
use std::time::Duration;

/// Limits applied to every run of every sandbox (a sandbox's `/init` may lower them).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear-memory cap per instance (OpenWhisk's default action memory: 256 MiB).
    pub memory_bytes: u64,
    /// Deadline when a `/run` carries none (OpenWhisk's default action timeout: 60 s).
    pub default_timeout: Duration,
    /// The longest any run may take, whatever deadline its request carries (OpenWhisk's
    /// maximum action timeout: 300 s), so a far-future deadline cannot hold a core for good.
    pub max_timeout: Duration,
    /// Cap on what one run may write to stdout (the result line is part of it).
    pub stdout_bytes: usize,
    /// Cap on what one run may write to stderr.
    pub stderr_bytes: usize,
    /// Most runs of one sandbox in flight at once; more wait in line. 0 = no limit.
    pub concurrency: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 * 1024 * 1024,
            default_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(300),
            stdout_bytes: 16 * 1024 * 1024,
            stderr_bytes: 16 * 1024 * 1024,
            concurrency: 0,
        }
    }
}

/// How instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AllocatorChoice {
    /// Pooling with large reservations, then pooling with small ones, then on-demand: the first
    /// that the host can reserve (39-bit-VA ARM kernels and qemu-user cannot reserve the default
    /// pool).
    Auto,
    /// The pooling allocator (pre-reserved slots, copy-on-write memory init); fail if it cannot
    /// be reserved.
    Pooling,
    /// Allocate every instance's memory on demand (mmap per instantiation).
    OnDemand,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Instance slots: concurrent live instances, including pre-warmed ones.
    pub slots: u32,
    /// Address space reserved per linear memory. 4 GiB lets Cranelift drop bounds checks.
    pub memory_reservation: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            slots: 2000,
            memory_reservation: 4 << 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrewarmConfig {
    pub enabled: bool,
    /// Most instances kept ready for one sandbox.
    pub max_per_sandbox: usize,
    /// Estimated resident memory all pre-warmed instances may hold together.
    pub budget_bytes: u64,
}

impl Default for PrewarmConfig {
    fn default() -> Self {
        PrewarmConfig {
            enabled: true,
            max_per_sandbox: 8,
            budget_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// Where compiled artifacts (`.cwasm`) live; `None` keeps them in memory only.
    pub dir: Option<PathBuf>,
    /// Most bytes of `.cwasm` files kept on disk; the least recently used go first.
    pub max_disk_bytes: u64,
    /// Most compiled modules kept in memory (sandboxes hold their own reference).
    pub max_memory_entries: usize,
    /// Compiles running at once (more wait); 0 = one per core.
    pub compile_concurrency: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            dir: default_cache_dir(),
            max_disk_bytes: 1 << 30,
            max_memory_entries: 256,
            compile_concurrency: 0,
        }
    }
}

/// `$XDG_CACHE_HOME/wow-runtime` or `~/.cache/wow-runtime`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("wow-runtime"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("wow-runtime"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    /// The Wasm engine this process runs (one per process).
    pub engine: crate::engines::EngineName,
    pub limits: Limits,
    pub allocator: AllocatorChoice,
    pub pool: PoolConfig,
    pub prewarm: PrewarmConfig,
    pub cache: CacheConfig,
    /// Most sandboxes alive at once; `/init` of one more is refused with 429.
    pub max_sandboxes: usize,
    /// Linear memory all live instances (running and pre-warmed) may hold together; a run that
    /// does not fit waits in the queue, a growth past it is refused. 0 = the machine's physical
    /// memory.
    pub memory_budget_bytes: u64,
    /// Runs that may wait at once (for their sandbox's concurrency, a pool slot or memory);
    /// past them `/run` answers 429.
    pub max_queue: usize,
    /// Most bytes of compiled code the sandboxes may hold together (each distinct module
    /// counted once); an `/init` that would pass it is refused with 429.
    pub code_budget_bytes: u64,
    /// How often the epoch advances: the granularity of deadlines and of the yields that keep a
    /// CPU-bound guest from holding a worker thread.
    pub epoch_tick: Duration,
    /// Write guest logs (with activation id and OpenWhisk's sentinel lines) to stdout.
    pub guest_logs: bool,
}

impl ExecutorConfig {
    /// For use inside another program (benchmarks, the harness's ladder): no guest logs on the
    /// host's stdout, artifacts cached in memory only.
    pub fn in_process() -> Self {
        let mut c = ExecutorConfig {
            guest_logs: false,
            ..ExecutorConfig::default()
        };
        c.cache.dir = None;
        c
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            engine: crate::engines::EngineName::Wasmtime,
            limits: Limits::default(),
            allocator: AllocatorChoice::Auto,
            pool: PoolConfig::default(),
            prewarm: PrewarmConfig::default(),
            cache: CacheConfig::default(),
            max_sandboxes: 10_000,
            memory_budget_bytes: 0,
            max_queue: 1024,
            code_budget_bytes: 512 << 20,
            epoch_tick: Duration::from_millis(2),
            guest_logs: true,
        }
    }
}
