//! wasmer with Cranelift (Singlepass optionally) and WASI preview 1 from `wasmer-wasix`.
//!
//! - Artifacts are `Module::serialize` bytes, loaded with `Module::deserialize`, as WOW did.
//! - The memory cap and the budget: wasmer has no per-store limiter, only engine-wide
//!   `Tunables` that create every memory. Ours wrap each memory an instance defines in a
//!   [`CappedMemory`] whose `grow` checks the cap and charges the budget; the instance's account
//!   reaches the tunables through a thread-local set around `Instance::new` (instantiation is
//!   synchronous, on one thread).
//! - The deadline: wasmer's `experimental-host-interrupt` (a SIGUSR1 to the thread running the
//!   store, which traps in compiled code and is checked when a host call returns). No counters
//!   in the compiled code, so no run-speed cost; WASI sleeps are cut short at the deadline.
//! - Instances: wasmer 7's `Store` is not `Send` (wasmerio/wasmer#7001), and the seam moves
//!   instances between threads (pool, `spawn_blocking`). So `instantiate` only checks the cap
//!   and holds the budget's charge; the store, WASI environment and instance are created on
//!   the blocking thread that runs `_start`, and never leave it. This also suits wasmer-wasix,
//!   which fixes args, env and stdio when its environment is built and has no setters.
//! - Runs are synchronous (wasmer-wasix blocks its thread in host calls), so they go through
//!   `spawn_blocking`.

use std::any::Any;
use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::wasmer::sys::vm::TrapCode;
use ::wasmer::sys::vm::{
    LinearMemory, MemoryError, MemoryStyle, TableStyle, VMMemory, VMMemoryDefinition, VMTable,
    VMTableDefinition,
};
use ::wasmer::sys::{BaseTunables, NativeEngineExt, Tunables};
use ::wasmer::{
    ExternType, Instance as WasmInstance, InstantiationError, MemoryType, Module, Pages, Store,
    TableType,
};
use bytes::Bytes;
use wasmer_wasix::runtime::task_manager::tokio::TokioTaskManager;
use wasmer_wasix::runtime::task_manager::{TaskWasm, VirtualTaskManager};
use wasmer_wasix::virtual_fs::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf, VirtualFile};
use wasmer_wasix::{
    PluggableRuntime, Runtime, WasiEnvBuilder, WasiError, WasiFunctionEnv, WasiThreadError,
};
use wow_protocol::Failure;

use super::{
    AllocatorInfo, BoxFuture, CappedBuffer, Code, Engine, EngineInfo, EngineName, Exit, Instance,
    Mode, Prepared, RunEnd, RunIo,
};
use crate::admission::Charge;
use crate::lock::lock;

/// The wasmer version this file is written against (pinned with `=` in Cargo.toml).
pub const WASMER_VERSION: &str = "7.3.0";

const PAGE: u64 = 65536;

/// Most table elements an instance may hold, all tables together (as for wasmtime).
pub const MAX_TABLE_ELEMENTS: u32 = super::MAX_TABLE_ELEMENTS as u32;

/// The compiler tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Cranelift,
    /// Only with the crate feature `wasmer-singlepass`.
    Singlepass,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub tier: Tier,
    /// How long after the deadline a run waits for its interrupted guest to stop before it
    /// is answered as timed out anyway (the interrupts then go on in the background until
    /// the thread is free).
    pub release_after: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            tier: Tier::Cranelift,
            release_after: Duration::from_millis(200),
        }
    }
}

pub struct Wasmer {
    engine: ::wasmer::Engine,
    runtime: Arc<dyn Runtime + Send + Sync>,
    release_after: Duration,
    info: EngineInfo,
    key: String,
}

impl Wasmer {
    /// Builds the engine for `cfg.tier`. Must be called inside a tokio runtime: wasmer-wasix's
    /// task manager keeps that runtime's handle for its sleeps.
    pub fn new(cfg: &EngineConfig) -> anyhow::Result<Wasmer> {
        match cfg.tier {
            Tier::Cranelift => {
                let compiler = ::wasmer::sys::Cranelift::default();
                Wasmer::with_engine(cfg, compiler.into(), "cranelift")
            }
            #[cfg(feature = "wasmer-singlepass")]
            Tier::Singlepass => {
                let compiler = ::wasmer::sys::Singlepass::default();
                Wasmer::with_engine(cfg, compiler.into(), "singlepass")
            }
            #[cfg(not(feature = "wasmer-singlepass"))]
            Tier::Singlepass => {
                anyhow::bail!("this build has no singlepass compiler (feature `wasmer-singlepass`)")
            }
        }
    }

    /// Builds on a given wasmer engine (e.g. Cranelift with middlewares); its tunables are
    /// replaced by the capping ones.
    pub fn with_engine(
        cfg: &EngineConfig,
        mut engine: ::wasmer::Engine,
        tier: &'static str,
    ) -> anyhow::Result<Wasmer> {
        let base = BaseTunables::for_target(engine.target());
        engine.set_tunables(CappingTunables { base });
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            anyhow::anyhow!("the wasmer engine must be built inside a tokio runtime")
        })?;
        let tasks = DeadlineTasks(Arc::new(TokioTaskManager::new(handle)));
        let mut runtime = PluggableRuntime::new(Arc::new(tasks));
        runtime.set_engine(engine.clone());
        let mut h = DefaultHasher::new();
        engine.deterministic_id().hash(&mut h);
        engine.target().triple().to_string().hash(&mut h);
        // Code is compiled for the host's CPU features.
        format!("{:?}", engine.target().cpu_features()).hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        let key = format!("wasmer-{WASMER_VERSION}-{tier}-{:016x}", h.finish());
        let info = EngineInfo {
            name: EngineName::Wasmer,
            version: WASMER_VERSION,
            mode: Mode::Jit,
            tier,
            allocator: AllocatorInfo::on_demand(
                "wasmer maps each memory when the run starts (4 GiB reserved + 4 GiB guard); \
                 its stores cannot move between threads, so nothing is pre-instantiated",
            ),
            deadline: "host-interrupt",
            prewarm: false,
        };
        Ok(Wasmer {
            engine,
            runtime: Arc::new(runtime),
            release_after: cfg.release_after,
            info,
            key,
        })
    }
}

/// A compiled wasmer module.
pub struct WasmerCode {
    pub module: Module,
    initial_memory: u64,
    code_bytes: u64,
}

impl WasmerCode {
    fn new(module: Module, code_bytes: u64) -> WasmerCode {
        let info = module.info();
        let initial_memory = info
            .memories
            .values()
            .skip(info.num_imported_memories)
            .map(|m| m.minimum.0 as u64 * PAGE)
            .sum();
        WasmerCode {
            module,
            initial_memory,
            code_bytes,
        }
    }
}

impl Code for WasmerCode {
    fn code_bytes(&self) -> u64 {
        self.code_bytes
    }

    fn initial_memory_bytes(&self) -> u64 {
        self.initial_memory
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn code_of(code: &dyn Code) -> anyhow::Result<&WasmerCode> {
    code.as_any()
        .downcast_ref::<WasmerCode>()
        .ok_or_else(|| anyhow::anyhow!("code compiled by another engine"))
}

impl Engine for Wasmer {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn key(&self) -> &str {
        &self.key
    }

    fn compile(&self, wasm: &[u8]) -> anyhow::Result<Arc<dyn Code>> {
        let module = Module::new(&self.engine, wasm)?;
        // wasmer does not say how big its code is; the artifact's size stands for it.
        let size = module.serialize()?.len() as u64;
        Ok(Arc::new(WasmerCode::new(module, size)))
    }

    fn serialize(&self, code: &dyn Code, _wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(code_of(code)?.module.serialize()?.to_vec())
    }

    unsafe fn load(&self, bytes: &[u8]) -> anyhow::Result<Arc<dyn Code>> {
        // SAFETY: the caller's contract (bytes from `serialize` with this engine's key); wasmer
        // checks the header and validates the archive.
        let module = unsafe { Module::deserialize(&self.engine, bytes.to_vec()) }?;
        Ok(Arc::new(WasmerCode::new(module, bytes.len() as u64)))
    }

    fn prepare(&self, code: &Arc<dyn Code>) -> Result<Arc<dyn Prepared>, Failure> {
        let module = &code_of(&**code)
            .map_err(|e| Failure::Internal(format!("{e}")))?
            .module;
        let has_start = module.exports().any(|e| {
            e.name() == "_start"
                && matches!(e.ty(), ExternType::Function(f) if f.params().is_empty() && f.results().is_empty())
        });
        if !has_start {
            return Err(super::not_a_command());
        }
        if !module
            .exports()
            .any(|e| matches!(e.ty(), ExternType::Memory(_)))
        {
            return Err(Failure::InitFailed(
                "It exports no memory, which WASI needs.".into(),
            ));
        }
        // Link once against wasmer-wasix's imports to refuse what a run could not link.
        let mut store = Store::new(self.engine.clone());
        let env = WasiEnvBuilder::new("action")
            .runtime(self.runtime.clone())
            .build()
            .map_err(|e| Failure::Internal(format!("cannot set up WASI: {e}")))?;
        let func_env = WasiFunctionEnv::new(&mut store, env);
        let imports = func_env
            .import_object_for_all_wasi_versions(&mut store, module)
            .map_err(|e| Failure::InitFailed(format!("It cannot be linked: {e}")))?;
        for import in module.imports() {
            if import.module() != "wasi_snapshot_preview1" {
                return Err(Failure::InitFailed(format!(
                    "It cannot be linked: it imports `{}::{}`; only `wasi_snapshot_preview1` \
                     is provided.",
                    import.module(),
                    import.name()
                )));
            }
            let ok = imports
                .get_export(import.module(), import.name())
                .is_some_and(|e| e.ty(&store) == *import.ty());
            if !ok {
                return Err(Failure::InitFailed(format!(
                    "It cannot be linked: `{}::{}` of type {:?} is not provided.",
                    import.module(),
                    import.name(),
                    import.ty()
                )));
            }
        }
        Ok(Arc::new(WasmerPrepared(Arc::new(Shared {
            module: module.clone(),
            engine: self.engine.clone(),
            runtime: self.runtime.clone(),
            initial_memory: code.initial_memory_bytes(),
            release_after: self.release_after,
        }))))
    }
}

struct Shared {
    module: Module,
    engine: ::wasmer::Engine,
    runtime: Arc<dyn Runtime + Send + Sync>,
    initial_memory: u64,
    release_after: Duration,
}

struct WasmerPrepared(Arc<Shared>);

impl Prepared for WasmerPrepared {
    /// wasmer 7's `Store` is not `Send` (wasmerio/wasmer#7001), so a store cannot be made here
    /// and handed to the thread that runs it: the instance is created on that thread at the
    /// start of the run. This only checks the cap and holds the budget's charge.
    fn instantiate(
        &self,
        memory_bytes: u64,
        charge: Charge,
    ) -> BoxFuture<'_, Result<Box<dyn Instance>, Failure>> {
        Box::pin(async move {
            let initial = self.0.initial_memory;
            if initial > memory_bytes {
                return Err(super::initial_memory_over(initial, memory_bytes));
            }
            Ok(Box::new(WasmerInstance {
                shared: self.0.clone(),
                memory_bytes,
                charge,
            }) as Box<dyn Instance>)
        })
    }
}

struct WasmerInstance {
    shared: Arc<Shared>,
    memory_bytes: u64,
    charge: Charge,
}

type Slot<T> = Arc<Mutex<Option<T>>>;

impl Instance for WasmerInstance {
    fn run(self: Box<Self>, io: RunIo) -> BoxFuture<'static, RunEnd> {
        Box::pin(async move {
            let WasmerInstance {
                shared,
                memory_bytes,
                charge,
            } = *self;
            let stdout = Arc::new(Mutex::new(CappedBuffer::new(io.stdout_cap)));
            let stderr = Arc::new(Mutex::new(CappedBuffer::new(io.stderr_cap)));
            let account = Arc::new(Mutex::new(MemoryAccount {
                cap: memory_bytes,
                total: 0,
                table_elements: 0,
                charge,
                refused: None,
                over_budget: false,
            }));
            let interrupter: Slot<::wasmer::Interrupter> = Arc::new(Mutex::new(None));
            let release_after = shared.release_after;
            let deadline = io.deadline;
            let interrupted = Arc::new(AtomicBool::new(false));
            let mut job = tokio::task::spawn_blocking({
                let (stdout, stderr) = (stdout.clone(), stderr.clone());
                let (account, interrupter) = (account.clone(), interrupter.clone());
                move || {
                    run_blocking(
                        &shared,
                        memory_bytes,
                        io,
                        stdout,
                        stderr,
                        account,
                        interrupter,
                    )
                }
            });
            let finished = tokio::select! {
                r = &mut job => Some(r),
                _ = tokio::time::sleep_until(deadline.into()) => None,
            };
            let interrupt = move || {
                if let Some(i) = lock(&interrupter).as_ref() {
                    i.interrupt();
                }
            };
            let finished = match finished {
                Some(r) => Some(r),
                None => {
                    // An interrupt is missed when it lands just before the guest enters
                    // compiled code (or before its store exists), so it is repeated until
                    // the run ends.
                    interrupted.store(true, Ordering::Relaxed);
                    let give_up = tokio::time::Instant::now() + release_after;
                    loop {
                        interrupt();
                        match tokio::time::timeout(Duration::from_millis(2), &mut job).await {
                            Ok(r) => break Some(r),
                            Err(_) if tokio::time::Instant::now() >= give_up => {
                                // Answer now; keep at it in the background so the thread
                                // is not left running the guest.
                                tokio::spawn(async move {
                                    loop {
                                        interrupt();
                                        let tick = Duration::from_millis(10);
                                        if tokio::time::timeout(tick, &mut job).await.is_ok() {
                                            break;
                                        }
                                    }
                                });
                                break None;
                            }
                            Err(_) => {}
                        }
                    }
                }
            };
            let exit = match finished {
                None => Exit::Timeout,
                Some(Err(e)) => Exit::Failed(Failure::Internal(format!("the run panicked: {e}"))),
                Some(Ok(Exit::Failed(_))) if interrupted.load(Ordering::Relaxed) => Exit::Timeout,
                Some(Ok(exit)) => exit,
            };
            let over_budget = {
                let a = lock(&account);
                a.over_budget.then_some(a.refused.unwrap_or(0))
            };
            let take = |b: &Mutex<CappedBuffer>| {
                std::mem::replace(&mut *lock(b), CappedBuffer::new(0)).into_bytes()
            };
            RunEnd {
                stdout: take(&stdout),
                stderr: take(&stderr),
                exit,
                over_budget,
                setup: None,
                teardown: None,
            }
        })
    }
}

/// Instantiates and runs on the calling (blocking) thread, which the store never leaves.
fn run_blocking(
    shared: &Shared,
    memory_bytes: u64,
    io: RunIo,
    stdout: Arc<Mutex<CappedBuffer>>,
    stderr: Arc<Mutex<CappedBuffer>>,
    account: Arc<Mutex<MemoryAccount>>,
    interrupter: Slot<::wasmer::Interrupter>,
) -> Exit {
    let mut args = io.args.into_iter();
    let program = args.next().unwrap_or_else(|| "action".into());
    let env = WasiEnvBuilder::new(program)
        .args(args)
        .envs(io.env)
        .stdin(Box::new(StdinFile {
            data: io.stdin,
            pos: 0,
        }))
        .stdout(Box::new(OutputFile(stdout)))
        .stderr(Box::new(OutputFile(stderr)))
        .runtime(shared.runtime.clone())
        .build();
    let env = match env {
        Ok(env) => env,
        Err(e) => {
            return Exit::Failed(Failure::ActionFailed(format!(
                "The action's arguments or environment cannot be passed: {e}"
            )));
        }
    };
    let mut store = Store::new(shared.engine.clone());
    *lock(&interrupter) = Some(store.interrupter());
    let mut func_env = WasiFunctionEnv::new(&mut store, env);
    let imports = match func_env.import_object_for_all_wasi_versions(&mut store, &shared.module) {
        Ok(i) => i,
        Err(e) => return Exit::Failed(Failure::Internal(format!("cannot link WASI: {e}"))),
    };
    // Boxed: wasmer's instantiation error is large.
    let made = with_account(&account, || {
        WasmInstance::new(&mut store, &shared.module, &imports).map_err(Box::new)
    });
    let instance = match made {
        Ok(i) => i,
        Err(e) => {
            let a = lock(&account);
            if a.over_budget {
                return Exit::Failed(super::over_budget_failure(
                    a.charge.budget().limit(),
                    a.refused,
                ));
            }
            if let Some(desired) = a.refused {
                return Exit::Failed(super::initial_memory_over(desired as u64, memory_bytes));
            }
            return Exit::Failed(match *e {
                // A data segment out of bounds and the like: the guest's fault.
                InstantiationError::Start(t) => classify(&t, None, memory_bytes),
                e => Failure::Internal(format!("instantiation failed: {e}")),
            });
        }
    };
    if let Err(e) = func_env.initialize(&mut store, instance.clone()) {
        return Exit::Failed(Failure::Internal(format!("cannot start WASI: {e}")));
    }
    let start = match instance
        .exports
        .get_typed_function::<(), ()>(&store, "_start")
    {
        Ok(f) => f,
        Err(e) => return Exit::Failed(Failure::Internal(format!("no _start: {e}"))),
    };
    if Instant::now() >= io.deadline {
        return Exit::Timeout;
    }
    let stop = store.interrupter();
    SLEEP_DEADLINE.with(|d| *d.borrow_mut() = Some((io.deadline, stop)));
    let result = start.call(&mut store);
    SLEEP_DEADLINE.with(|d| d.borrow_mut().take());
    match result {
        Ok(()) => Exit::Returned,
        // `proc_exit`, zero or not: the result line decides, as for a process.
        Err(e) if matches!(e.downcast_ref::<WasiError>(), Some(WasiError::Exit(_))) => {
            Exit::Returned
        }
        Err(e) if e.clone().to_trap() == Some(TrapCode::HostInterrupt) => Exit::Timeout,
        Err(e) => {
            let refused = lock(&account).refused;
            Exit::Failed(classify(&e, refused, memory_bytes))
        }
    }
}

fn classify(e: &::wasmer::RuntimeError, refused: Option<usize>, memory_bytes: u64) -> Failure {
    if let Some(desired) = refused {
        return super::memory_exceeded(memory_bytes, desired);
    }
    match e.clone().to_trap() {
        Some(TrapCode::StackOverflow) => super::stack_overflow(),
        Some(t) => super::trapped(t),
        None => Failure::ActionFailed(format!("The action failed: {}", e.message())),
    }
}

// ---- Memory cap and budget ----

/// What an instance's memories may use and have used, shared by its memories and its run.
struct MemoryAccount {
    cap: u64,
    /// Bytes of all the instance's memories now.
    total: u64,
    table_elements: u32,
    /// The instance's charge to the executor's memory budget, grown with its memories.
    charge: Charge,
    /// The total asked for when a growth (or the initial size) was refused.
    refused: Option<usize>,
    /// A growth was refused because the budget, not the cap, was exhausted.
    over_budget: bool,
}

impl MemoryAccount {
    /// Takes `growth` more bytes, or records why not.
    fn take(&mut self, growth: u64) -> bool {
        let total = self.total.saturating_add(growth);
        if total > self.cap {
            self.refused = Some(total as usize);
            return false;
        }
        let charged = self.charge.bytes();
        if total > charged && !self.charge.grow(total - charged) {
            self.refused = Some(total as usize);
            self.over_budget = true;
            return false;
        }
        self.total = total;
        true
    }
}

thread_local! {
    /// The account of the instance being created on this thread, for the tunables.
    static INSTANTIATING: RefCell<Option<Arc<Mutex<MemoryAccount>>>> = const { RefCell::new(None) };
    /// The deadline of the run on this thread and how to stop it, to cut WASI sleeps short.
    static SLEEP_DEADLINE: RefCell<Option<(Instant, ::wasmer::Interrupter)>> = const { RefCell::new(None) };
}

fn with_account<R>(account: &Arc<Mutex<MemoryAccount>>, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            INSTANTIATING.with(|a| a.borrow_mut().take());
        }
    }
    INSTANTIATING.with(|a| *a.borrow_mut() = Some(account.clone()));
    let _reset = Reset;
    f()
}

fn current_account() -> Option<Arc<Mutex<MemoryAccount>>> {
    INSTANTIATING.with(|a| a.borrow().clone())
}

/// Base tunables, except that memories and tables an instance defines are capped by its
/// account. Memory styles (fixed at compile time) are left alone: a cap only lowers a maximum.
struct CappingTunables {
    base: BaseTunables,
}

impl Tunables for CappingTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        // Only WASI's own helpers would create one; `prepare` refuses imported memories.
        self.base.create_host_memory(ty, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        let Some(account) = current_account() else {
            // SAFETY: the caller's contract, passed on.
            return unsafe {
                self.base
                    .create_vm_memory(ty, style, vm_definition_location)
            };
        };
        let mut ty = *ty;
        let initial = ty.minimum.0 as u64 * PAGE;
        {
            let mut a = lock(&account);
            let cap_pages = Pages((a.cap / PAGE).min(u32::MAX as u64) as u32);
            if !a.take(initial) {
                return Err(MemoryError::MinimumMemoryTooLarge {
                    min_requested: ty.minimum,
                    max_allowed: cap_pages,
                });
            }
            ty.maximum = Some(ty.maximum.map_or(cap_pages, |m| m.min(cap_pages)));
        }
        // SAFETY: the caller's contract, passed on.
        let inner = unsafe { VMMemory::from_definition(&ty, style, vm_definition_location) }?;
        let capped: Box<dyn LinearMemory + Send + Sync> = Box::new(CappedMemory { inner, account });
        Ok(VMMemory::from_custom(capped))
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let mut ty = *ty;
        if let Some(account) = current_account() {
            let mut a = lock(&account);
            let room = MAX_TABLE_ELEMENTS.saturating_sub(a.table_elements);
            if ty.minimum > room {
                return Err(format!(
                    "its tables need more than {MAX_TABLE_ELEMENTS} elements"
                ));
            }
            a.table_elements += ty.minimum;
            // Growth is bounded per table (wasmer has no table-growth hook).
            ty.maximum = Some(ty.maximum.map_or(room, |m| m.min(room)));
        }
        // SAFETY: the caller's contract, passed on.
        unsafe {
            self.base
                .create_vm_table(&ty, style, vm_definition_location)
        }
    }
}

/// A linear memory whose growth is checked against its instance's cap and charged to the
/// executor's budget; everything else is the inner memory's.
struct CappedMemory {
    inner: VMMemory,
    account: Arc<Mutex<MemoryAccount>>,
}

impl std::fmt::Debug for CappedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedMemory")
            .field("inner", &self.inner)
            .finish()
    }
}

impl LinearMemory for CappedMemory {
    fn ty(&self) -> MemoryType {
        self.inner.ty()
    }

    fn size(&self) -> Pages {
        self.inner.size()
    }

    fn style(&self) -> MemoryStyle {
        self.inner.style()
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let current = self.inner.size();
        if delta.0 > 0 && !lock(&self.account).take(delta.0 as u64 * PAGE) {
            return Err(MemoryError::CouldNotGrow {
                current,
                attempted_delta: delta,
            });
        }
        let grown = self.inner.grow(delta);
        if grown.is_err() {
            // Not grown after all: the bytes are free again under the cap (the budget keeps
            // its charge until the instance ends, as with wasmtime's limiter).
            let mut a = lock(&self.account);
            a.total = a.total.saturating_sub(delta.0 as u64 * PAGE);
        }
        grown
    }

    fn grow_at_least(&mut self, min_size: u64) -> Result<(), MemoryError> {
        let current = self.inner.size();
        let have = current.0 as u64 * PAGE;
        if min_size > have && !lock(&self.account).take(min_size.next_multiple_of(PAGE) - have) {
            return Err(MemoryError::CouldNotGrow {
                current,
                attempted_delta: Pages(((min_size - have).div_ceil(PAGE)) as u32),
            });
        }
        self.inner.grow_at_least(min_size)
    }

    fn reset(&mut self) -> Result<(), MemoryError> {
        self.inner.reset()
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.inner.vmmemory()
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::InvalidMemory {
            reason: "a capped memory cannot be cloned".into(),
        })
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::InvalidMemory {
            reason: "a capped memory cannot be copied".into(),
        })
    }
}

// ---- WASI sleeps cut at the deadline ----

/// wasmer-wasix's tokio task manager, except that a sleep ends at the deadline of the run on
/// the calling thread, so a sleeping guest is stopped on time (the interrupt is checked when
/// the host call returns).
#[derive(Debug)]
struct DeadlineTasks(Arc<TokioTaskManager>);

impl VirtualTaskManager for DeadlineTasks {
    fn sleep_now(
        &self,
        time: Duration,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        let Some((deadline, stop)) = SLEEP_DEADLINE.with(|d| d.borrow().clone()) else {
            return self.0.sleep_now(time);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if time < left {
            return self.0.sleep_now(time);
        }
        // Cut short: the guest must not carry on as if it had slept, so the store is
        // interrupted before the host call returns (and traps as it does).
        let sleep = self.0.sleep_now(left);
        Box::pin(async move {
            sleep.await;
            stop.interrupt();
        })
    }

    fn task_shared(
        &self,
        task: Box<dyn FnOnce() -> futures_box::BoxFuture<'static, ()> + Send + 'static>,
    ) -> Result<(), WasiThreadError> {
        self.0.task_shared(task)
    }

    fn task_wasm(&self, task: TaskWasm) -> Result<(), WasiThreadError> {
        self.0.task_wasm(task)
    }

    fn task_dedicated(
        &self,
        task: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<(), WasiThreadError> {
        self.0.task_dedicated(task)
    }

    fn thread_parallelism(&self) -> Result<usize, WasiThreadError> {
        self.0.thread_parallelism()
    }
}

mod futures_box {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
}

// ---- In-memory stdio ----

/// The run's stdin: its bytes, then end of file.
#[derive(Debug)]
struct StdinFile {
    data: Bytes,
    pos: usize,
}

impl AsyncRead for StdinFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for StdinFile {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::PermissionDenied.into()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for StdinFile {
    fn start_seek(self: Pin<&mut Self>, _: io::SeekFrom) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos as u64))
    }
}

impl VirtualFile for StdinFile {
    fn last_accessed(&self) -> u64 {
        0
    }
    fn last_modified(&self) -> u64 {
        0
    }
    fn created_time(&self) -> u64 {
        0
    }
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn set_len(&mut self, _: u64) -> wasmer_wasix::virtual_fs::Result<()> {
        Err(wasmer_wasix::FsError::PermissionDenied)
    }
    fn unlink(&mut self) -> wasmer_wasix::virtual_fs::Result<()> {
        Ok(())
    }
    fn poll_read_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.data.len().saturating_sub(self.pos)))
    }
    fn poll_write_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }
}

/// stdout or stderr: a capped buffer the run reads back. A write past the cap is dropped but
/// reported as written, so a guest does not spin retrying.
#[derive(Debug)]
struct OutputFile(Arc<Mutex<CappedBuffer>>);

impl AsyncRead for OutputFile {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for OutputFile {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(lock(&self.0).write(data)))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for OutputFile {
    fn start_seek(self: Pin<&mut Self>, _: io::SeekFrom) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(0))
    }
}

impl VirtualFile for OutputFile {
    fn last_accessed(&self) -> u64 {
        0
    }
    fn last_modified(&self) -> u64 {
        0
    }
    fn created_time(&self) -> u64 {
        0
    }
    fn size(&self) -> u64 {
        0
    }
    fn set_len(&mut self, _: u64) -> wasmer_wasix::virtual_fs::Result<()> {
        Ok(())
    }
    fn unlink(&mut self) -> wasmer_wasix::virtual_fs::Result<()> {
        Ok(())
    }
    fn poll_read_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }
    fn poll_write_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(8192))
    }
}
