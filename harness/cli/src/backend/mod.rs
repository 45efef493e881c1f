//! The two sides under test behind one interface: provision a sandbox, init it with an action's
//! code, run it, measure memory, destroy it.
//!
//! `init` and `run` are the same code for both backends (the OpenWhisk protocol over HTTP with
//! one client, see [`client`]); only provisioning, memory and teardown differ. Every call is
//! timed by the harness's monotonic clock around the whole call.

pub mod client;
pub mod docker;
pub mod wasm;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use serde_json::Value;
use wow_records::vocab;

pub use client::{ActionClient, RunReply};

/// Which side a backend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Wasm,
    Docker,
}

impl BackendKind {
    /// The backend's name in the records.
    pub fn backend(self) -> vocab::Backend {
        match self {
            BackendKind::Wasm => vocab::Backend::Wasm,
            BackendKind::Docker => vocab::Backend::Docker,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.backend().as_str()
    }

    pub fn parse(s: &str) -> Result<BackendKind> {
        match s.parse::<vocab::Backend>() {
            Ok(vocab::Backend::Wasm) => Ok(BackendKind::Wasm),
            Ok(vocab::Backend::Docker) => Ok(BackendKind::Docker),
            _ => anyhow::bail!("unknown backend {s:?} (expected wasm or docker)"),
        }
    }
}

/// An action's code for both sides: the `.wasm` for the executor, the static native binary for
/// the proxy, each with its `/init` body already encoded (outside any timed section).
#[derive(Clone)]
pub struct ActionCode {
    pub name: String,
    pub wasm_init: Bytes,
    pub native_init: Bytes,
    pub wasm_bytes: usize,
    pub native_bytes: usize,
}

impl ActionCode {
    pub fn new(name: &str, wasm: &[u8], native: &[u8]) -> ActionCode {
        ActionCode {
            name: name.to_string(),
            wasm_init: client::init_body(name, wasm),
            native_init: client::init_body(name, native),
            wasm_bytes: wasm.len(),
            native_bytes: native.len(),
        }
    }

    /// The same action with other Wasm bytes (e.g. made distinct by a custom section).
    pub fn with_wasm(&self, wasm: &[u8]) -> ActionCode {
        ActionCode {
            wasm_init: client::init_body(&self.name, wasm),
            wasm_bytes: wasm.len(),
            ..self.clone()
        }
    }

    pub fn init_body(&self, kind: BackendKind) -> &Bytes {
        match kind {
            BackendKind::Wasm => &self.wasm_init,
            BackendKind::Docker => &self.native_init,
        }
    }
}

/// How long provisioning took, and its parts where the backend has parts.
#[derive(Debug, Clone, Default)]
pub struct ProvisionTiming {
    pub total: Duration,
    /// Docker: `create_container`.
    pub create: Option<Duration>,
    /// Docker: `start_container`.
    pub start: Option<Duration>,
    /// Docker: from started to the proxy's first successful answer.
    pub ready: Option<Duration>,
    /// Readiness polls it took.
    pub ready_polls: u32,
}

/// A provisioned sandbox: where to send `/init` and `/run`.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Unique within the run.
    pub id: String,
    pub kind: BackendKind,
    /// `/init` and `/run` are appended to this.
    pub base_url: String,
    /// Docker: the container id.
    pub container_id: Option<String>,
    /// Docker: the host port published for it (or its host-network port).
    pub host_port: Option<u16>,
    pub provision: ProvisionTiming,
}

impl Sandbox {
    pub fn init_url(&self) -> String {
        format!("{}/init", self.base_url)
    }
    pub fn run_url(&self) -> String {
        format!("{}/run", self.base_url)
    }
}

/// Memory of a set of warm sandboxes, by both methods (`results/README.md`, "Measurement definitions").
/// Absent parts stay `None`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MemorySample {
    pub sandboxes: usize,
    /// The paper's method: `docker stats` per container / executor RSS ÷ N.
    pub paper_per_sandbox: Option<f64>,
    /// The full cost: everything that exists only because the sandboxes exist, ÷ N.
    pub full_per_sandbox: Option<f64>,
    /// Everything the backend uses for these sandboxes (executor RSS; Σ container cgroups,
    /// shims and proxies), bytes.
    pub total_bytes: Option<f64>,
    /// Named components in bytes (totals over all sandboxes), for the record.
    pub parts: Vec<(String, f64)>,
}

/// One side under test. Implementations must be cheap to share across tasks.
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// Which of the action's codes `/init` ships: the backend's own, except where a Docker
    /// container runs the Wasm executor (`docker-wasm`).
    fn code_kind(&self) -> BackendKind {
        self.kind()
    }

    /// The series this backend instance produces (`create-start`, `precompiled`, …).
    fn variant(&self) -> &str;

    /// Makes a sandbox for `action`, ready to receive `/init`.
    fn provision(&self, action: &str) -> impl Future<Output = Result<Sandbox>> + Send;

    /// Removes the sandbox and everything made for it.
    fn destroy(&self, sandbox: &Sandbox) -> impl Future<Output = Result<()>> + Send;

    /// Memory of these warm sandboxes by both methods.
    fn memory(&self, sandboxes: &[Sandbox]) -> impl Future<Output = Result<MemorySample>> + Send;

    /// Takes the "no sandboxes" reading that the full method subtracts (the executor's idle
    /// RSS); a no-op where each sandbox is measured on its own.
    fn memory_baseline(&self) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// The shared client (same for both backends).
    fn client(&self) -> &ActionClient;

    /// An error when the backend itself is gone (e.g. the executor process died), so an
    /// experiment stops with a clear message instead of recording a wall of failed requests.
    fn healthy(&self) -> Result<()> {
        Ok(())
    }

    /// `/init` with the action's code; the harness times the whole call.
    fn init(
        &self,
        sandbox: &Sandbox,
        code: &ActionCode,
    ) -> impl Future<Output = Result<client::InitReply>> + Send {
        let body = code.init_body(self.code_kind()).clone();
        let url = sandbox.init_url();
        async move { self.client().init(&url, body).await }
    }

    /// `/run` with parameters; the harness times the whole call.
    fn run(
        &self,
        sandbox: &Sandbox,
        params: &Value,
    ) -> impl Future<Output = Result<RunReply>> + Send {
        let url = sandbox.run_url();
        let body = client::run_body(params, &sandbox.id, self.client().run_timeout);
        async move { self.client().run(&url, body).await }
    }
}

/// Either backend, for code that picks one at run time.
pub enum AnyBackend {
    Wasm(Box<wasm::WasmBackend>),
    Docker(docker::DockerBackend),
}

impl Backend for AnyBackend {
    fn kind(&self) -> BackendKind {
        match self {
            AnyBackend::Wasm(b) => b.kind(),
            AnyBackend::Docker(b) => b.kind(),
        }
    }
    fn code_kind(&self) -> BackendKind {
        match self {
            AnyBackend::Wasm(b) => b.code_kind(),
            AnyBackend::Docker(b) => b.code_kind(),
        }
    }
    fn variant(&self) -> &str {
        match self {
            AnyBackend::Wasm(b) => b.variant(),
            AnyBackend::Docker(b) => b.variant(),
        }
    }
    async fn provision(&self, action: &str) -> Result<Sandbox> {
        match self {
            AnyBackend::Wasm(b) => b.provision(action).await,
            AnyBackend::Docker(b) => b.provision(action).await,
        }
    }
    async fn destroy(&self, sandbox: &Sandbox) -> Result<()> {
        match self {
            AnyBackend::Wasm(b) => b.destroy(sandbox).await,
            AnyBackend::Docker(b) => b.destroy(sandbox).await,
        }
    }
    async fn memory(&self, sandboxes: &[Sandbox]) -> Result<MemorySample> {
        match self {
            AnyBackend::Wasm(b) => b.memory(sandboxes).await,
            AnyBackend::Docker(b) => b.memory(sandboxes).await,
        }
    }
    async fn memory_baseline(&self) -> Result<()> {
        match self {
            AnyBackend::Wasm(b) => b.memory_baseline().await,
            AnyBackend::Docker(b) => b.memory_baseline().await,
        }
    }
    fn client(&self) -> &ActionClient {
        match self {
            AnyBackend::Wasm(b) => b.client(),
            AnyBackend::Docker(b) => b.client(),
        }
    }
    fn healthy(&self) -> Result<()> {
        match self {
            AnyBackend::Wasm(b) => b.healthy(),
            AnyBackend::Docker(b) => b.healthy(),
        }
    }
}

/// Shared handle.
pub type SharedBackend = Arc<AnyBackend>;
