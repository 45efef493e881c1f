//! The executor: many sandboxes in one process (WOW's "Wasm Executor" and "Wasm Invoker").
//!
//! A sandbox is created by its `/init`: the code is compiled (or found in the artifact cache),
//! checked to be a WASI command the engine can link, and kept pre-linked. Every `/run` then gets
//! a fresh instance in a fresh store — from the pre-warm pool when one is ready — with in-memory
//! stdio, the sandbox's limits and the run's deadline. What differs between engines sits behind
//! [`crate::engines::Engine`]; everything here is the same for all of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use base64::Engine as _;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wow_protocol::{Failure, InitRequest, LOG_SENTINEL, RunRequest};

use crate::admission::{Charge, MemoryBudget, Queue, physical_memory};
use crate::cache::{ArtifactCache, Digest, Source, hex};
use crate::code::{CodeBudget, CodeCharge};
use crate::config::{ExecutorConfig, Limits};
use crate::engines::{self, Code, Engine, Exit, Prepared, RunIo};
use crate::lock::lock;
use crate::metrics::Metrics;
use crate::prewarm::{ActionPool, Budget, Ready};
use crate::timing::Steps;

/// The sandbox that the single-action routes (`/init`, `/run`) address.
pub const DEFAULT_SANDBOX: &str = "default";

/// An initialised sandbox: the action's code, ready to instantiate.
pub struct Action {
    pub name: String,
    pub digest: Digest,
    pub pre: Arc<dyn Prepared>,
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    gate: Option<Arc<Semaphore>>,
    pub pool: ActionPool,
    /// This sandbox's hold on the compiled-code budget, released with the action.
    _code: CodeCharge,
    /// Linear memory an instance starts with, bytes: what a run needs from the budget to start.
    initial_memory: u64,
}

#[derive(Default)]
struct Slot {
    initializing: AtomicBool,
    action: OnceLock<Arc<Action>>,
}

/// The one `/init` in progress on a sandbox. Dropped before [`InitClaim::complete`] — the init
/// failed, panicked, or its client went away and the request was cancelled — it reopens the
/// sandbox for init, and forgets a named sandbox that has no action (the default one stays).
struct InitClaim<'a> {
    exec: &'a Executor,
    sandbox: &'a str,
    slot: Arc<Slot>,
    done: bool,
}

impl InitClaim<'_> {
    fn complete(mut self, action: Action) {
        let _ = self.slot.action.set(Arc::new(action));
        self.done = true;
    }
}

impl Drop for InitClaim<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.slot.initializing.store(false, Ordering::Release);
        if self.sandbox != DEFAULT_SANDBOX {
            let mut map = lock(&self.exec.sandboxes);
            if map
                .get(self.sandbox)
                .is_some_and(|s| Arc::ptr_eq(s, &self.slot) && s.action.get().is_none())
            {
                map.remove(self.sandbox);
            }
        }
    }
}

/// What `/init` did, reported back to the caller (the harness checks that a "precompiled"
/// series really hit the cache).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InitOutcome {
    pub ok: bool,
    /// `compiled`, `memory` or `disk`.
    pub artifact: &'static str,
    pub digest: String,
    pub init_us: u64,
}

/// A finished run: the result line as the guest wrote it, and diagnostics.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub body: Bytes,
    pub prewarmed: bool,
    pub exec: Duration,
}

pub struct Executor {
    pub engine: Arc<dyn Engine>,
    pub config: ExecutorConfig,
    pub cache: Arc<ArtifactCache>,
    pub metrics: Metrics,
    sandboxes: Mutex<HashMap<String, Arc<Slot>>>,
    /// One permit per pooling-allocator slot, so excess runs wait instead of failing.
    slots: Option<Arc<Semaphore>>,
    pub budget: Budget,
    /// Compiled code held by sandboxes.
    pub code: Arc<CodeBudget>,
    /// Linear memory of live instances.
    pub memory: Arc<MemoryBudget>,
    /// Runs waiting for anything.
    pub queue: Queue,
}

impl Executor {
    /// Builds the configured engine and the cache, and starts the pool janitor. Must be called
    /// inside a tokio runtime.
    pub fn new(config: ExecutorConfig) -> Result<Arc<Executor>> {
        let engine = engines::build(config.engine, &config)?;
        let info = engine.info();
        tracing::info!(
            engine = info.name.as_str(),
            version = info.version,
            tier = info.tier,
            "instance allocator: {} ({} slots): {}",
            info.allocator.kind,
            info.allocator.slots,
            info.allocator.reason
        );
        let cache = Arc::new(ArtifactCache::open(&engine, &config.cache)?);
        let slots = (info.allocator.slots > 0)
            .then(|| Arc::new(Semaphore::new(info.allocator.slots as usize)));
        let exec = Arc::new(Executor {
            engine,
            cache,
            metrics: Metrics::default(),
            sandboxes: Mutex::new(HashMap::new()),
            slots,
            budget: Budget::default(),
            code: CodeBudget::new(config.code_budget_bytes),
            memory: MemoryBudget::new(match config.memory_budget_bytes {
                0 => physical_memory(),
                n => n,
            }),
            queue: Queue::new(config.max_queue),
            config,
        });
        if !exec.engine.info().prewarm {
            tracing::info!("no pre-warm pool: this engine makes each instance in its run");
        }
        if exec.prewarms() {
            start_janitor(Arc::downgrade(&exec));
        }
        Ok(exec)
    }

    /// Whether instances are made ahead of runs: configured, and the engine can.
    pub fn prewarms(&self) -> bool {
        self.config.prewarm.enabled && self.engine.info().prewarm
    }

    /// `/init` (or `/{sandbox}/init`).
    pub async fn init(&self, sandbox: &str, req: InitRequest) -> Result<InitOutcome, Failure> {
        self.init_timed(sandbox, req, &mut Steps::start()).await
    }

    /// [`Executor::init`], marking its steps in `steps`.
    pub async fn init_timed(
        &self,
        sandbox: &str,
        req: InitRequest,
        steps: &mut Steps,
    ) -> Result<InitOutcome, Failure> {
        let t0 = Instant::now();
        let slot = self.slot_for_init(sandbox)?;
        if slot.action.get().is_some() || slot.initializing.swap(true, Ordering::AcqRel) {
            return Err(Failure::Reinit);
        }
        // From here on this call owns the sandbox's init; if it is dropped half-way (the client
        // went away) the claim reopens the sandbox.
        let claim = InitClaim {
            exec: self,
            sandbox,
            slot,
            done: false,
        };
        steps.mark("slot");
        match self.build_action(&req, steps).await {
            Ok((action, source)) => {
                let digest = hex(&action.digest);
                claim.complete(action);
                steps.mark("action");
                match source {
                    Source::Compiled => self.metrics.inits_cold.fetch_add(1, Ordering::Relaxed),
                    _ => self.metrics.inits_warm.fetch_add(1, Ordering::Relaxed),
                };
                Ok(InitOutcome {
                    ok: true,
                    artifact: source.as_str(),
                    digest,
                    init_us: t0.elapsed().as_micros() as u64,
                })
            }
            Err(f) => {
                self.metrics.init_errors.fetch_add(1, Ordering::Relaxed);
                drop(claim);
                Err(f)
            }
        }
    }

    fn slot_for_init(&self, sandbox: &str) -> Result<Arc<Slot>, Failure> {
        if !valid_sandbox_id(sandbox) {
            return Err(invalid_sandbox_id(sandbox));
        }
        let mut map = lock(&self.sandboxes);
        if let Some(s) = map.get(sandbox) {
            return Ok(s.clone());
        }
        if map.len() >= self.config.max_sandboxes {
            return Err(Failure::Overloaded(format!(
                "The executor already hosts {} sandboxes, its limit.",
                map.len()
            )));
        }
        let s = Arc::new(Slot::default());
        map.insert(sandbox.to_string(), s.clone());
        Ok(s)
    }

    async fn build_action(
        &self,
        req: &InitRequest,
        steps: &mut Steps,
    ) -> Result<(Action, Source), Failure> {
        let code = req.code()?;
        // A binary code's text is digested as sent: seen before, its module is found without
        // a decode and the checks (they passed for these bytes, and the limits do not change).
        let text = req
            .value
            .binary
            .then(|| ArtifactCache::digest(code.trim().as_bytes()));
        steps.mark("digest");
        let known = text.and_then(|t| self.cache.by_text(&t));
        steps.mark("cache");
        let (digest, module, source) = match known {
            Some((digest, module)) => (digest, module, Source::Memory),
            None => {
                let (digest, module, source) = self.load_code(req, code, steps).await?;
                if let Some(t) = text {
                    self.cache.remember_text(t, digest);
                }
                (digest, module, source)
            }
        };
        let pre = self.prepare(&module)?;
        steps.mark("prepare");
        let code = self.code.charge(digest, module.code_bytes())?;
        let initial_memory = module.initial_memory_bytes();
        let limits = self.config.limits.clone();
        let gate =
            (limits.concurrency > 0).then(|| Arc::new(Semaphore::new(limits.concurrency as usize)));
        Ok((
            Action {
                name: if req.value.name.is_empty() {
                    "action".to_string()
                } else {
                    req.value.name.clone()
                },
                digest,
                pre,
                env: req.env_vars(),
                limits,
                gate,
                pool: ActionPool::default(),
                _code: code,
                initial_memory,
            },
            source,
        ))
    }

    /// Decodes and checks the code of an `/init`, and finds or compiles its module.
    async fn load_code(
        &self,
        req: &InitRequest,
        code: &str,
        steps: &mut Steps,
    ) -> Result<(Digest, Arc<dyn Code>, Source), Failure> {
        let wasm: Bytes = if req.value.binary {
            base64::engine::general_purpose::STANDARD
                .decode(code.trim())
                .map_err(|e| Failure::BadRequest(format!("cannot decode the request: {e}")))?
                .into()
        } else {
            // Text code: accept WebAssembly text only if it is actually a binary module.
            Bytes::copy_from_slice(code.as_bytes())
        };
        steps.mark("decode");
        if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
            return Err(Failure::InitFailed(
                "The code is not a WebAssembly module (no \\0asm header).".into(),
            ));
        }
        check_module(&wasm, self.config.limits.memory_bytes)?;
        steps.mark("check");
        let digest = ArtifactCache::digest(&wasm);
        steps.mark("digest");
        let (module, source) = self
            .cache
            .get(digest, wasm)
            .await
            .map_err(|e| Failure::InitFailed(format!("It does not compile: {e}")))?;
        steps.mark("cache");
        Ok((digest, module, source))
    }

    /// Checks that the module is a WASI command the engine can link within the memory limit,
    /// and pre-links it.
    pub fn prepare(&self, code: &Arc<dyn Code>) -> Result<Arc<dyn Prepared>, Failure> {
        let limit = self.config.limits.memory_bytes;
        let initial = code.initial_memory_bytes();
        if initial > limit {
            return Err(engines::initial_memory_over(initial, limit));
        }
        self.engine.prepare(code)
    }

    fn action(&self, sandbox: &str) -> Result<Arc<Action>, Failure> {
        let map = lock(&self.sandboxes);
        match map.get(sandbox) {
            Some(slot) => slot.action.get().cloned().ok_or(Failure::NotInitialized),
            None if sandbox == DEFAULT_SANDBOX => Err(Failure::NotInitialized),
            None => Err(Failure::UnknownSandbox(sandbox.to_string())),
        }
    }

    /// `/{sandbox}/destroy`: forgets the sandbox; runs in flight finish normally.
    pub fn destroy(&self, sandbox: &str) -> Result<(), Failure> {
        let slot = lock(&self.sandboxes)
            .remove(sandbox)
            .ok_or_else(|| Failure::UnknownSandbox(sandbox.to_string()))?;
        if let Some(a) = slot.action.get() {
            a.pool.drain(&self.budget);
        }
        Ok(())
    }

    pub fn sandbox_count(&self) -> usize {
        lock(&self.sandboxes).len()
    }

    /// A pool slot for a new instance, waiting in the queue until the run's deadline.
    async fn acquire_slot(
        &self,
        deadline: Instant,
        limit: Duration,
    ) -> Result<Option<OwnedSemaphorePermit>, Failure> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        if let Ok(p) = slots.clone().try_acquire_owned() {
            return Ok(Some(p));
        }
        match self
            .queue
            .wait(deadline.into(), slots.clone().acquire_owned())
            .await?
        {
            Some(p) => Ok(Some(p.expect("never closed"))),
            None => Err(timeout(limit)),
        }
    }

    /// Room in the memory budget for a new instance's initial memory, waiting in the queue
    /// until the run's deadline.
    async fn admit_memory(
        &self,
        bytes: u64,
        deadline: Instant,
        limit: Duration,
    ) -> Result<Charge, Failure> {
        if let Some(c) = self.memory.try_charge(bytes) {
            return Ok(c);
        }
        if bytes > self.memory.limit() {
            return Err(Failure::Overloaded(format!(
                "The action's initial memory of {bytes} bytes is over the executor's memory \
                 budget of {} bytes.",
                self.memory.limit()
            )));
        }
        self.queue
            .wait(deadline.into(), self.memory.charge(bytes))
            .await?
            .ok_or_else(|| timeout(limit))
    }

    /// The failure of a run whose memory could not grow because others held the budget.
    fn over_budget(&self, asked: Option<usize>) -> Failure {
        engines::over_budget_failure(self.memory.limit(), asked)
    }

    /// `/run` (or `/{sandbox}/run`).
    pub async fn run(
        self: &Arc<Self>,
        sandbox: &str,
        req: &RunRequest,
    ) -> Result<RunOutcome, Failure> {
        self.run_timed(sandbox, req, &mut Steps::start()).await
    }

    /// [`Executor::run`], marking its steps in `steps`.
    pub async fn run_timed(
        self: &Arc<Self>,
        sandbox: &str,
        req: &RunRequest,
        steps: &mut Steps,
    ) -> Result<RunOutcome, Failure> {
        let action = self.action(sandbox)?;
        let result = self.invoke(&action, req, steps).await;
        match &result {
            Ok(_) => self.metrics.runs_ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.metrics.run_errors.fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    async fn invoke(
        self: &Arc<Self>,
        action: &Arc<Action>,
        req: &RunRequest,
        steps: &mut Steps,
    ) -> Result<RunOutcome, Failure> {
        let limit = deadline_from(req.deadline_ms(), action.limits.default_timeout)
            .min(action.limits.max_timeout);
        if limit.is_zero() {
            // The caller's deadline has passed: answered without running, as the proxy does.
            return Err(Failure::Timeout { limit_ms: 0 });
        }
        let deadline = Instant::now() + limit;
        // Waiting for the sandbox's concurrency limit counts against the deadline, as in the
        // proxy's queue.
        let _gate = match &action.gate {
            Some(g) => match g.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => match self
                    .queue
                    .wait(deadline.into(), g.clone().acquire_owned())
                    .await?
                {
                    Some(permit) => Some(permit.expect("never closed")),
                    None => return Err(timeout(limit)),
                },
            },
            None => None,
        };
        let _in_flight = action.pool.run_started();
        steps.mark("admit");
        let exec_start = Instant::now();

        let io = RunIo {
            stdin: Bytes::copy_from_slice(req.params.get().as_bytes()),
            args: vec![action.name.clone()],
            env: req.action_env(&action.env),
            stdout_cap: action.limits.stdout_bytes,
            stderr_cap: action.limits.stderr_bytes,
            deadline,
        };
        steps.mark("io");

        let pooled = action.pool.take(&self.budget);
        let prewarmed = pooled.is_some();
        let ready = match pooled {
            Some(r) => {
                self.metrics.prewarm_hits.fetch_add(1, Ordering::Relaxed);
                r
            }
            None => {
                let permit = self.acquire_slot(deadline, limit).await?;
                let charge = self
                    .admit_memory(action.initial_memory, deadline, limit)
                    .await?;
                self.instantiate(action, permit, charge).await?
            }
        };
        let Ready {
            instance,
            permit: _permit,
        } = ready;
        steps.mark(if prewarmed {
            "instance_pool"
        } else {
            "instantiate"
        });
        // Topped up before the guest runs, so that concurrent runs of a long action find
        // instances (after the run, the `sleep` throughput group met cold instantiations).
        if self.prewarms() {
            self.refill(action);
            steps.mark("prewarm");
        }

        let end = instance.run(io).await;
        let exec = exec_start.elapsed();
        steps.mark("guest");
        if let Some(d) = end.setup {
            steps.split("guest", "wasi", d);
        }
        if let Some(d) = end.teardown {
            steps.split("guest", "teardown", d);
        }
        let (out, err) = (end.stdout, end.stderr);
        let (logs, result) = wow_protocol::parse_output(&out);
        self.write_logs(&req.log_id(), logs, &err);
        steps.mark("output");

        let failure = match end.exit {
            Exit::Timeout => Some(timeout(limit)),
            Exit::Returned => None,
            Exit::Failed(_) if end.over_budget.is_some() => Some(self.over_budget(end.over_budget)),
            Exit::Failed(f) => Some(f),
        };
        let flooded =
            out.len() >= action.limits.stdout_bytes || err.len() >= action.limits.stderr_bytes;
        match (failure, result) {
            (Some(f @ Failure::Timeout { .. }), _) => Err(f),
            _ if flooded => Err(Failure::ActionFailed(format!(
                "The action wrote more than its output limit ({} bytes of stdout, {} of stderr) and was stopped.",
                action.limits.stdout_bytes, action.limits.stderr_bytes
            ))),
            // A guest that printed a result and then died (e.g. a panic after its error line)
            // answers with that result, as a native process would through the proxy.
            (_, Ok(line)) => Ok(RunOutcome {
                body: Bytes::copy_from_slice(line),
                prewarmed,
                exec,
            }),
            (Some(f), Err(_)) => Err(f),
            (None, Err(f)) => Err(f),
        }
    }

    fn write_logs(&self, activation: &str, logs: &[u8], stderr: &[u8]) {
        if !self.config.guest_logs {
            return;
        }
        use std::io::Write;
        let mut o = Vec::with_capacity(logs.len() + 64);
        for line in logs.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let _ = writeln!(o, "{activation} stdout: {}", String::from_utf8_lossy(line));
        }
        o.extend_from_slice(LOG_SENTINEL.as_bytes());
        o.push(b'\n');
        let mut e = Vec::with_capacity(stderr.len() + 64);
        for line in stderr.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let _ = writeln!(e, "{activation} stderr: {}", String::from_utf8_lossy(line));
        }
        e.extend_from_slice(LOG_SENTINEL.as_bytes());
        e.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&o);
        let _ = std::io::stderr().lock().write_all(&e);
    }

    /// Tops up the sandbox's pool in the background, without blocking runs for slots.
    fn refill(self: &Arc<Self>, action: &Arc<Action>) {
        let target = action.pool.target(self.config.prewarm.max_per_sandbox);
        if action.pool.len() >= target || action.pool.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let exec = self.clone();
        let action = action.clone();
        tokio::spawn(async move {
            let max = exec.config.prewarm.max_per_sandbox;
            while action.pool.len() < action.pool.target(max) {
                let permit = match &exec.slots {
                    Some(s) => match s.clone().try_acquire_owned() {
                        Ok(p) => Some(p),
                        Err(_) => break,
                    },
                    None => None,
                };
                let Some(charge) = exec.memory.try_charge(action.initial_memory) else {
                    break;
                };
                let Ok(ready) = exec.instantiate(&action, permit, charge).await else {
                    break;
                };
                if action
                    .pool
                    .offer(ready, &exec.budget, exec.config.prewarm.budget_bytes)
                    .is_err()
                {
                    break;
                }
            }
            action.pool.refilling.store(false, Ordering::Release);
        });
    }

    /// A new instance of the action in a new store, occupying `permit`'s pool slot.
    async fn instantiate(
        &self,
        action: &Action,
        permit: Option<OwnedSemaphorePermit>,
        charge: Charge,
    ) -> Result<Ready, Failure> {
        let instance = action
            .pre
            .instantiate(action.limits.memory_bytes, charge)
            .await?;
        Ok(Ready { instance, permit })
    }

    /// Fills the sandbox's pre-warm pool with up to `n` instances now, within the budget.
    /// Returns how many it holds. Used by benchmarks to time pre-warmed runs in isolation.
    pub async fn prewarm_now(&self, sandbox: &str, n: usize) -> Result<usize, Failure> {
        let action = self.action(sandbox)?;
        while action.pool.len() < n {
            let permit = match &self.slots {
                Some(s) => Some(s.clone().acquire_owned().await.expect("never closed")),
                None => None,
            };
            let Some(charge) = self.memory.try_charge(action.initial_memory) else {
                break;
            };
            let ready = self.instantiate(&action, permit, charge).await?;
            if action
                .pool
                .offer(ready, &self.budget, self.config.prewarm.budget_bytes)
                .is_err()
            {
                break;
            }
        }
        Ok(action.pool.len())
    }

    /// Sandboxes' pools, for the janitor.
    fn actions(&self) -> Vec<Arc<Action>> {
        lock(&self.sandboxes)
            .values()
            .filter_map(|s| s.action.get().cloned())
            .collect()
    }

    /// Ready instances across all sandboxes.
    pub fn pool_size(&self) -> u64 {
        self.budget.instances.load(Ordering::Relaxed)
    }
}

fn timeout(limit: Duration) -> Failure {
    Failure::Timeout {
        limit_ms: limit.as_millis() as u64,
    }
}

/// Whether `id` can name a sandbox: 1 to 128 of `A-Z a-z 0-9 . _ -`.
pub fn valid_sandbox_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The 400 for a sandbox id that [`valid_sandbox_id`] refuses.
pub fn invalid_sandbox_id(id: &str) -> Failure {
    let shown: String = id.chars().take(40).collect();
    Failure::BadRequest(format!(
        "The sandbox id {shown:?} is not valid: 1 to 128 of A-Z a-z 0-9 . _ -."
    ))
}

/// Checks what every engine must refuse the same way, before any engine sees the module: a
/// start function (it would run at instantiation — possibly in the pre-warm pool — outside any
/// run's deadline and WASI context), imports from anywhere but WASI, more than one memory, an
/// initial memory over the cap and tables past [`engines::MAX_TABLE_ELEMENTS`]. Reads the
/// header sections only; a malformed module is left for the engine to refuse.
fn check_module(wasm: &[u8], memory_limit: u64) -> Result<(), Failure> {
    use wasmparser::{Payload, TypeRef};
    let refuse = |why: String| Err(Failure::InitFailed(why));
    let mut memories = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        match payload {
            Payload::StartSection { .. } => {
                return refuse(
                    "The module has a start function; a WASI command starts at its `_start` \
                     export."
                        .into(),
                );
            }
            Payload::ImportSection(imports) => {
                for import in imports.into_imports().flatten() {
                    if import.module != engines::WASI_MODULE {
                        return refuse(format!(
                            "It cannot be linked: it imports `{}`.`{}`; a sandbox offers \
                             `{}` only.",
                            wow_protocol::log_safe(import.module),
                            wow_protocol::log_safe(import.name),
                            engines::WASI_MODULE
                        ));
                    }
                    if matches!(import.ty, TypeRef::Memory(_)) {
                        memories += 1;
                    }
                }
            }
            Payload::MemorySection(section) => {
                for memory in section.into_iter().flatten() {
                    memories += 1;
                    let bytes = memory.initial.saturating_mul(65536);
                    if bytes > memory_limit {
                        return Err(engines::initial_memory_over(bytes, memory_limit));
                    }
                }
            }
            Payload::TableSection(section) => {
                for table in section.into_iter().flatten() {
                    if table.ty.initial > engines::MAX_TABLE_ELEMENTS as u64 {
                        return refuse(format!(
                            "Its table of {} elements is over the limit of {} table elements.",
                            table.ty.initial,
                            engines::MAX_TABLE_ELEMENTS
                        ));
                    }
                }
            }
            Payload::CodeSectionStart { .. } => break,
            _ => {}
        }
    }
    if memories > 1 {
        return refuse("It has multiple memories; a sandbox has one linear memory.".into());
    }
    Ok(())
}

/// The time a run may take: until the caller's deadline (epoch ms), else the default.
fn deadline_from(deadline_ms: Option<u64>, default: Duration) -> Duration {
    match deadline_ms {
        Some(ms) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            Duration::from_millis(ms.saturating_sub(now))
        }
        None => default,
    }
}

/// Every second: start a new demand window for each pool, dropping instances of idle sandboxes.
fn start_janitor(exec: Weak<Executor>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(exec) = exec.upgrade() else { break };
            let max = exec.config.prewarm.max_per_sandbox;
            for a in exec.actions() {
                a.pool.roll_window(max, &exec.budget);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AllocatorChoice;
    use crate::lock::poison;

    /// A WASI command that writes `{"ok":true}`; `tag` makes distinct modules.
    fn ok_module(tag: &str) -> String {
        let wasm = wat::parse_str(format!(
            r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{{\"ok\":true}}\n")
  (@custom "tag" "{tag}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#
        ))
        .unwrap();
        base64::engine::general_purpose::STANDARD.encode(wasm)
    }

    async fn init_and_run(exec: &Arc<Executor>, sandbox: &str, tag: &str) {
        exec.init(
            sandbox,
            InitRequest::binary(sandbox, ok_module(tag), Default::default()),
        )
        .await
        .unwrap_or_else(|f| panic!("init {sandbox}: {f}"));
        let req = RunRequest::parse(br#"{"value": {}}"#).unwrap();
        let out = exec
            .run(sandbox, &req)
            .await
            .unwrap_or_else(|f| panic!("run {sandbox}: {f}"));
        assert_eq!(&out.body[..], br#"{"ok":true}"#);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_while_a_lock_is_held_does_not_break_later_requests() {
        let mut cfg = ExecutorConfig::in_process();
        cfg.allocator = AllocatorChoice::OnDemand;
        let exec = Executor::new(cfg).unwrap();
        init_and_run(&exec, "before", "a").await;

        poison(&exec.sandboxes);
        exec.cache.poison_locks();
        for a in exec.actions() {
            a.pool.poison_lock();
        }

        // Every path through the locks still answers: pre-warming, a warm run from the pool,
        // a new sandbox with new code (compile, in-flight table, memory tier), a memory hit,
        // the janitor's sweep, destroy, and the gauges. The pool is filled only now, after a
        // run: the poisoning threads' panics can take seconds (backtraces), and two janitor
        // windows without a run empty a pool.
        let req = RunRequest::parse(br#"{"value": {}}"#).unwrap();
        exec.run("before", &req).await.unwrap();
        exec.prewarm_now("before", 1).await.unwrap();
        let out = exec.run("before", &req).await.unwrap();
        assert!(out.prewarmed);
        init_and_run(&exec, "after", "b").await;
        init_and_run(&exec, "again", "b").await;
        for a in exec.actions() {
            a.pool.roll_window(8, &exec.budget);
        }
        exec.destroy("before").unwrap();
        assert_eq!(exec.sandbox_count(), 2);
        assert_eq!(exec.cache.inflight(), 0);
    }
}
