//! The engine seam: what differs between Wasm engines (compile, serialize and load a
//! precompiled artifact, instantiate, run a WASI command with in-memory stdio, environment, a
//! deadline and a memory cap) sits behind [`Engine`]; the protocol, limits, pre-warm pool,
//! artifact cache, budgets, metrics and HTTP server are one code path over it.
//!
//! One process runs one engine (`wow-runtime --engine <name>`): two JIT engines in one process
//! would both install signal handlers for their traps, and WAMR keeps one global runtime per
//! process, so the harness starts a process per engine.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use wow_protocol::Failure;

use crate::admission::Charge;

#[cfg(feature = "wamr")]
pub mod wamr;
#[cfg(feature = "wasmer")]
pub mod wasmer;
#[cfg(feature = "wasmi")]
pub mod wasmi;
pub mod wasmtime;

/// A boxed future, as the trait objects return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The engines, by the name `--engine`, `/health` and the records use (the records' vocabulary).
pub use wow_records::Engine as EngineName;

/// How an engine executes code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Compiled to machine code at `/init` (or loaded precompiled from the artifact cache).
    Jit,
    /// Interpreted: `/init` only validates and translates the module.
    Interpreter,
}

/// What `/health`, `meta.json` and the logs say about the engine.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineInfo {
    pub name: EngineName,
    /// The engine crate's version, from Cargo.lock at build time.
    pub version: &'static str,
    pub mode: Mode,
    /// The compiler or interpreter tier, e.g. `cranelift`, `singlepass`, `fast-interp`.
    pub tier: &'static str,
    /// How instance memory is allocated and why. With slots reserved up front (wasmtime's
    /// pooling allocator) the executor queues runs for a slot.
    pub allocator: AllocatorInfo,
    /// How the run deadline is enforced (`epoch`, `fuel`, `metering`, …), for the report.
    pub deadline: &'static str,
    /// Whether an instance can be made ahead of its run (and wait in the pre-warm pool); an
    /// engine whose store cannot move between threads makes it in the run instead.
    pub prewarm: bool,
}

/// The allocation the engine ended up with, for logs, `/health` and run metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AllocatorInfo {
    /// `pooling` or `on-demand`.
    pub kind: &'static str,
    /// Instance slots reserved up front; 0 = allocated per instance.
    pub slots: u32,
    pub memory_reservation: u64,
    /// Why this allocation was chosen (the failures that came before it, if any).
    pub reason: String,
}

impl AllocatorInfo {
    /// Memory allocated per instance, as every engine but wasmtime does.
    pub fn on_demand(reason: &str) -> AllocatorInfo {
        AllocatorInfo {
            kind: "on-demand",
            slots: 0,
            memory_reservation: 0,
            reason: reason.to_string(),
        }
    }
}

/// A module this engine compiled (or loaded), shared by every sandbox with the same digest.
pub trait Code: Send + Sync + 'static {
    /// Bytes the compiled code holds in memory (counted against the code budget).
    fn code_bytes(&self) -> u64;
    /// Linear memory an instance starts with, bytes.
    fn initial_memory_bytes(&self) -> u64;
    fn as_any(&self) -> &dyn Any;
}

/// An engine: one per process.
pub trait Engine: Send + Sync + 'static {
    fn info(&self) -> &EngineInfo;
    /// Names what artifacts this engine can load: it changes with the engine's version,
    /// target and settings, and names the artifact cache's folder.
    fn key(&self) -> &str;
    /// Compiles (or, for an interpreter, validates and translates) a module.
    fn compile(&self, wasm: &[u8]) -> anyhow::Result<Arc<dyn Code>>;
    /// The artifact the cache keeps on disk for `code` (for an interpreter with nothing to
    /// serialize: the wasm bytes themselves).
    fn serialize(&self, code: &dyn Code, wasm: &[u8]) -> anyhow::Result<Vec<u8>>;
    /// Loads what [`Engine::serialize`] wrote.
    ///
    /// # Safety
    /// `bytes` must come from `serialize` of an engine with the same [`Engine::key`] (the cache
    /// checks a checksum and the key's folder before it calls this).
    unsafe fn load(&self, bytes: &[u8]) -> anyhow::Result<Arc<dyn Code>>;
    /// [`Engine::load`] from a file (wasmtime maps it instead of reading it).
    ///
    /// # Safety
    /// As for [`Engine::load`].
    unsafe fn load_file(&self, path: &std::path::Path) -> anyhow::Result<Arc<dyn Code>> {
        let bytes = std::fs::read(path)?;
        // SAFETY: the caller's contract.
        unsafe { self.load(&bytes) }
    }
    /// Checks that `code` is a WASI command this engine can link (`_start: () -> ()`, imports
    /// of `wasi_snapshot_preview1` only) and pre-links it.
    fn prepare(&self, code: &Arc<dyn Code>) -> Result<Arc<dyn Prepared>, Failure>;
}

/// A linked module, ready to instantiate.
pub trait Prepared: Send + Sync + 'static {
    /// A fresh instance in a fresh store whose linear memory is capped at `memory_bytes`;
    /// `charge` holds its initial memory in the executor's budget and grows with it (a growth
    /// the budget refuses fails like one over the cap, with [`RunEnd::over_budget`] set).
    fn instantiate(
        &self,
        memory_bytes: u64,
        charge: Charge,
    ) -> BoxFuture<'_, Result<Box<dyn Instance>, Failure>>;
}

/// What a run reads and may write.
pub struct RunIo {
    pub stdin: Bytes,
    /// `argv`, program name first.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Output past these caps is dropped (the executor then fails the run as flooded).
    pub stdout_cap: usize,
    pub stderr_cap: usize,
    /// The run is stopped with [`Exit::Timeout`] once this passes.
    pub deadline: Instant,
}

/// How a run ended.
#[derive(Debug)]
pub enum Exit {
    /// `_start` returned or the guest called `proc_exit` (any status: the result line decides,
    /// as for a process).
    Returned,
    /// The deadline passed.
    Timeout,
    /// A trap, a refused memory growth or an engine error, already worded for the client.
    Failed(Failure),
}

/// A finished run.
#[derive(Debug)]
pub struct RunEnd {
    pub stdout: Bytes,
    pub stderr: Bytes,
    pub exit: Exit,
    /// A memory growth was refused because the executor's budget (not the cap) was exhausted.
    pub over_budget: Option<usize>,
    /// Time from the run's start to the guest's first instruction (WASI context, deadline,
    /// export lookup), where the engine measures it.
    pub setup: Option<std::time::Duration>,
    /// Time to give the instance back (its store dropped, its memory reset), where the engine
    /// measures it.
    pub teardown: Option<std::time::Duration>,
}

/// An instance ready to run once (pre-warmed instances wait in the pool as these).
pub trait Instance: Send + 'static {
    fn run(self: Box<Self>, io: RunIo) -> BoxFuture<'static, RunEnd>;
}

/// What an engine of this build is, without starting it: for `wowbench list`, run metadata
/// and the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineSummary {
    pub name: EngineName,
    pub version: &'static str,
    pub mode: Mode,
    pub tier: &'static str,
    pub deadline: &'static str,
}

/// The engines this build has, the reference first.
pub fn available() -> Vec<EngineName> {
    catalogue().into_iter().map(|e| e.name).collect()
}

/// Every engine of this build, described.
pub fn catalogue() -> Vec<EngineSummary> {
    #[allow(unused_mut)]
    let mut v = vec![EngineSummary {
        name: EngineName::Wasmtime,
        version: env!("WOW_WASMTIME_VERSION"),
        mode: Mode::Jit,
        tier: "cranelift",
        deadline: "epoch",
    }];
    #[cfg(feature = "wasmer")]
    v.push(EngineSummary {
        name: EngineName::Wasmer,
        version: env!("WOW_WASMER_VERSION"),
        mode: Mode::Jit,
        tier: "cranelift",
        deadline: "host-interrupt",
    });
    #[cfg(feature = "wamr")]
    v.push(EngineSummary {
        name: EngineName::Wamr,
        version: env!("WOW_WAMR_VERSION"),
        mode: Mode::Interpreter,
        tier: "fast-interp",
        deadline: "stop flag at loop heads and calls",
    });
    #[cfg(feature = "wasmi")]
    v.push(EngineSummary {
        name: EngineName::Wasmi,
        version: env!("WOW_WASMI_VERSION"),
        mode: Mode::Interpreter,
        tier: "wasmi",
        deadline: "fuel",
    });
    v
}

/// Builds the engine `name` with `cfg`, or says why this build cannot.
pub fn build(
    name: EngineName,
    cfg: &crate::config::ExecutorConfig,
) -> anyhow::Result<Arc<dyn Engine>> {
    match name {
        EngineName::Wasmtime => Ok(Arc::new(wasmtime::Wasmtime::new(cfg)?)),
        #[cfg(feature = "wasmer")]
        EngineName::Wasmer => Ok(Arc::new(wasmer::Wasmer::new(&Default::default())?)),
        #[cfg(feature = "wamr")]
        EngineName::Wamr => Ok(Arc::new(wamr::Wamr::new(&Default::default())?)),
        #[cfg(feature = "wasmi")]
        EngineName::Wasmi => Ok(Arc::new(wasmi::Wasmi::new(&Default::default())?)),
        #[allow(unreachable_patterns)]
        other => anyhow::bail!(
            "this build of wow-runtime has no {} engine (build it with `--features {}`)",
            other.as_str(),
            other.as_str()
        ),
    }
}

/// The one module a guest may import from.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Most table elements an instance may hold, all its tables together (every engine).
pub const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// The failure for a module that is not a WASI command, worded once for every engine.
pub fn not_a_command() -> Failure {
    Failure::InitFailed(
        "The module is not a WASI command: it exports no `_start` function of type `() -> ()`."
            .into(),
    )
}

/// The failure for a module whose initial memory is over the memory cap.
pub fn initial_memory_over(bytes: u64, limit: u64) -> Failure {
    Failure::InitFailed(format!(
        "Its initial memory of {bytes} bytes is over the memory limit of {limit} bytes."
    ))
}

/// The failure for a run that asked for more memory than its cap.
pub fn memory_exceeded(limit: u64, desired: usize) -> Failure {
    Failure::ActionFailed(format!(
        "The action exceeded its memory limit of {limit} bytes (it asked for {desired}) and was aborted."
    ))
}

/// The failure of a run whose memory could not grow because others held the executor's memory
/// budget of `limit` bytes.
pub fn over_budget_failure(limit: u64, asked: Option<usize>) -> Failure {
    Failure::Overloaded(format!(
        "The executor's memory budget of {limit} bytes is in use: the action's memory could not \
         grow (to {} bytes).",
        asked.unwrap_or(0)
    ))
}

/// The failure for a trap, by its engine's description.
pub fn trapped(what: impl std::fmt::Display) -> Failure {
    Failure::ActionFailed(format!("The action trapped: {what}."))
}

/// The failure for a call-stack overflow.
pub fn stack_overflow() -> Failure {
    Failure::ActionFailed("The action overflowed its call stack and was aborted.".into())
}

/// Output capped at `cap` bytes: what the guest wrote past it is dropped, and the executor sees
/// a full buffer and fails the run as flooded.
#[derive(Debug, Clone)]
pub struct CappedBuffer {
    buf: Vec<u8>,
    cap: usize,
}

impl CappedBuffer {
    pub fn new(cap: usize) -> CappedBuffer {
        CappedBuffer {
            buf: Vec::new(),
            cap,
        }
    }

    /// Appends what fits; returns how many bytes the guest is told were written (all of
    /// them, so a guest does not spin retrying a full pipe).
    pub fn write(&mut self, data: &[u8]) -> usize {
        let room = self.cap.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
        data.len()
    }

    pub fn into_bytes(self) -> Bytes {
        self.buf.into()
    }
}
