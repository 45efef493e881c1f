//! wasmi, a pure-Rust interpreter: no machine code, so nothing to serialize (the artifact is the
//! wasm itself) and no signal handlers. It has no epochs and no async calls; instead a run is a
//! resumable call fed fuel in slices, and between slices it checks its deadline and yields its
//! tokio worker, so a long guest shares the worker as wasmtime's epoch yields do. A guest's sleep
//! (`poll_oneoff` on one relative clock) is turned into a paused call and a tokio timer, so it
//! holds no thread either.

use std::any::Any;
use std::io::{Cursor, IoSlice, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmi::errors::MemoryError;
use wasmi::{
    AsContext, Caller, CompilationMode, Config, CustomFuelCosts, Extern, ExternType, Func, Module,
    Store, TrapCode, TypedFunc, TypedResumableCall, Val,
};
use wasmi_core::LimiterError;
use wasmi_wasi::wasi_common::sched::{Poll, RwEventFlags, Subscription};
use wasmi_wasi::wasi_common::{self, Table, WasiCtx, WasiSched};
use wow_protocol::Failure;

use super::{
    AllocatorInfo, BoxFuture, CappedBuffer, Code, Engine, EngineInfo, EngineName, Exit, Instance,
    Mode, Prepared, RunEnd, RunIo,
};
use crate::admission::Charge;

/// What the engine needs beyond the per-run limits the seam passes.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Fuel per slice (roughly one wasm instruction each): the deadline is checked and the
    /// worker yielded once per slice, so this sets both the deadline's precision and how long a
    /// guest holds its worker. The default is about 1 ms of guest code: the workloads burn
    /// 0.3-0.6 (hash) to 3-6 (json) million fuel per ms (the `timings` test prints it).
    pub fuel_slice: u64,
    /// Translate each function to wasmi bytecode on its first call instead of at compile (the
    /// module is still validated whole at compile).
    pub lazy_translation: bool,
    /// Deepest wasm call nesting before the guest fails as a stack overflow.
    pub max_recursion_depth: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            fuel_slice: 1_000_000,
            lazy_translation: true,
            max_recursion_depth: 10_000,
        }
    }
}

pub struct Wasmi {
    engine: wasmi::Engine,
    info: EngineInfo,
    key: String,
    fuel_slice: u64,
    /// The WASI context an instance holds until its run installs its own (never run with).
    idle_wasi: WasiCtx,
}

impl Wasmi {
    pub fn new(cfg: &EngineConfig) -> anyhow::Result<Wasmi> {
        anyhow::ensure!(cfg.fuel_slice > 0, "the fuel slice must be positive");
        let mut config = Config::default();
        config
            .consume_fuel(true)
            // A start function would run at instantiation, outside any run's deadline and WASI
            // context (the executor refuses such modules before they get here, too).
            .allow_start_fn(false)
            .set_max_recursion_depth(cfg.max_recursion_depth)
            // wasmi 2.0.0 charges lazy translation to the fuel, but when that runs out it ends
            // the call for good instead of pausing it (the error skips the resumable path), so
            // a slice that ends at a first call kills the run. Translation is charged nothing:
            // it happens once per function per module, in time bounded by the function's size.
            .fuel_cost(CustomFuelCosts {
                bytes_copied_per_fuel: 64,
                fuel_per_bytes_translated: 0,
                fuel_per_bytes_validated: 0,
            })
            .compilation_mode(if cfg.lazy_translation {
                CompilationMode::LazyTranslation
            } else {
                CompilationMode::Eager
            });
        let engine = wasmi::Engine::new(&config);
        let mode = if cfg.lazy_translation {
            "lazy"
        } else {
            "eager"
        };
        let version = wasmi_version();
        Ok(Wasmi {
            engine,
            info: EngineInfo {
                name: EngineName::Wasmi,
                version,
                mode: Mode::Interpreter,
                tier: "wasmi",
                allocator: AllocatorInfo::on_demand(
                    "wasmi allocates each instance's linear memory on the heap",
                ),
                deadline: "fuel",
                prewarm: true,
            },
            // The artifact is the wasm itself, so only a change of format would need a new key;
            // the version and mode are kept in it so records say what made the cache.
            key: format!("wasmi-{version}-{mode}"),
            fuel_slice: cfg.fuel_slice,
            idle_wasi: new_wasi_ctx(Box::new(wasi_common::sync::sched::SyncSched::new())),
        })
    }
}

fn wasmi_version() -> &'static str {
    // Set by the build script from Cargo.lock, as the executor's does.
    env!("WOW_WASMI_VERSION")
}

/// A validated (and, in eager mode, translated) module.
pub struct WasmiCode {
    module: Module,
    /// The wasm's length: wasmi does not tell the size of its bytecode.
    wasm_bytes: u64,
}

impl Code for WasmiCode {
    fn code_bytes(&self) -> u64 {
        self.wasm_bytes
    }

    /// The exported memory's minimum (a WASI command exports its one memory; an unexported one
    /// is charged when the limiter sees it created).
    fn initial_memory_bytes(&self) -> u64 {
        self.module
            .exports()
            .filter_map(|e| match e.ty() {
                ExternType::Memory(m) => Some(m.minimum().saturating_mul(65536)),
                _ => None,
            })
            .fold(0, u64::saturating_add)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn code_of(code: &dyn Code) -> &WasmiCode {
    code.as_any()
        .downcast_ref::<WasmiCode>()
        .expect("code compiled by this engine")
}

impl Engine for Wasmi {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn key(&self) -> &str {
        &self.key
    }

    fn compile(&self, wasm: &[u8]) -> anyhow::Result<Arc<dyn Code>> {
        let module = Module::new(&self.engine, wasm).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Arc::new(WasmiCode {
            module,
            wasm_bytes: wasm.len() as u64,
        }))
    }

    fn serialize(&self, _code: &dyn Code, wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(wasm.to_vec())
    }

    unsafe fn load(&self, bytes: &[u8]) -> anyhow::Result<Arc<dyn Code>> {
        // SAFETY: the caller's contract: `bytes` are what `serialize` wrote, the wasm that
        // `compile` validated under this engine's key (same config), so validation is skipped.
        let module = unsafe { Module::new_unchecked(&self.engine, bytes) }
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Arc::new(WasmiCode {
            module,
            wasm_bytes: bytes.len() as u64,
        }))
    }

    fn prepare(&self, code: &Arc<dyn Code>) -> Result<Arc<dyn Prepared>, Failure> {
        let module = code_of(&**code).module.clone();
        let is_command = matches!(
            module.get_export("_start"),
            Some(ExternType::Func(f)) if f.params().is_empty() && f.results().is_empty()
        );
        if !is_command {
            return Err(super::not_a_command());
        }
        // Resolve the imports once in a throwaway store (no memory is made): unknown names and
        // wrong signatures fail here, not at every instantiation.
        let mut store = Store::new(&self.engine, GuestState::idle(&self.idle_wasi, 0, None));
        let mut externals = Vec::new();
        wasmi_wasi::add_to_externals(&mut store, &module, &mut externals, wasi_of)
            .map_err(|e| Failure::InitFailed(format!("It cannot be linked: {e}.")))?;
        let mut poll_oneoff = None;
        for (i, (import, ext)) in module.imports().zip(&externals).enumerate() {
            let provided = ext.ty(&store);
            let fits = matches!(
                (import.ty(), &provided),
                (ExternType::Func(want), ExternType::Func(have)) if want == have
            );
            if !fits {
                return Err(Failure::InitFailed(format!(
                    "It cannot be linked: it imports {}::{} as {:?}, which WASI provides as {:?}.",
                    import.module(),
                    import.name(),
                    import.ty(),
                    provided
                )));
            }
            if import.name() == "poll_oneoff" {
                poll_oneoff = Some(i);
            }
        }
        Ok(Arc::new(WasmiPrepared {
            engine: self.engine.clone(),
            module,
            initial_memory: code.initial_memory_bytes(),
            poll_oneoff,
            fuel_slice: self.fuel_slice,
            idle_wasi: self.idle_wasi.clone(),
        }))
    }
}

fn wasi_of(s: &mut GuestState) -> &mut WasiCtx {
    &mut s.wasi
}

/// What a guest's store carries.
struct GuestState {
    wasi: WasiCtx,
    limiter: MemoryLimiter,
    /// A sleep the guest asked for in its last `poll_oneoff`, nanoseconds (`NO_SLEEP`: none),
    /// shared with the run's scheduler, which fills it in.
    sleep: Arc<AtomicU64>,
}

const NO_SLEEP: u64 = u64::MAX;

impl GuestState {
    fn idle(wasi: &WasiCtx, memory_bytes: u64, charge: Option<Charge>) -> GuestState {
        GuestState {
            wasi: wasi.clone(),
            limiter: MemoryLimiter::new(memory_bytes as usize, charge),
            sleep: Arc::new(AtomicU64::new(NO_SLEEP)),
        }
    }
}

struct WasmiPrepared {
    engine: wasmi::Engine,
    module: Module,
    initial_memory: u64,
    /// The import index of `poll_oneoff`, replaced by the one that sleeps without a thread.
    poll_oneoff: Option<usize>,
    fuel_slice: u64,
    idle_wasi: WasiCtx,
}

impl WasmiPrepared {
    fn instantiate_now(
        &self,
        memory_bytes: u64,
        charge: Charge,
    ) -> Result<Box<dyn Instance>, Failure> {
        if self.initial_memory > memory_bytes {
            return Err(super::initial_memory_over(
                self.initial_memory,
                memory_bytes,
            ));
        }
        let state = GuestState::idle(&self.idle_wasi, memory_bytes, Some(charge));
        let sleep = state.sleep.clone();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let mut externals = Vec::new();
        wasmi_wasi::add_to_externals(&mut store, &self.module, &mut externals, wasi_of)
            .map_err(|e| Failure::Internal(format!("WASI imports changed since prepare: {e}")))?;
        if let Some(i) = self.poll_oneoff {
            externals[i] = Extern::Func(sleeping_poll_oneoff(&mut store, sleep));
        }
        let instance = match wasmi::Instance::new(&mut store, &self.module, &externals) {
            Ok(i) => i,
            Err(e) => {
                let limiter = &store.data().limiter;
                if limiter.over_budget {
                    return Err(super::over_budget_failure(
                        limiter.budget_limit(),
                        limiter.refused,
                    ));
                }
                if let Some(asked) = limiter.refused {
                    return Err(super::initial_memory_over(asked as u64, memory_bytes));
                }
                return Err(match e.as_trap_code() {
                    Some(code) => super::trapped(code),
                    None => Failure::Internal(format!("instantiation failed: {e}")),
                });
            }
        };
        let start = instance
            .get_typed_func::<(), ()>(&store, "_start")
            .map_err(|e| Failure::Internal(format!("no _start: {e}")))?;
        Ok(Box::new(WasmiInstance {
            store,
            start,
            memory_bytes,
            fuel_slice: self.fuel_slice,
        }))
    }
}

impl Prepared for WasmiPrepared {
    fn instantiate(
        &self,
        memory_bytes: u64,
        charge: Charge,
    ) -> BoxFuture<'_, Result<Box<dyn Instance>, Failure>> {
        // Instantiation never waits: it only allocates and copies data segments.
        Box::pin(std::future::ready(
            self.instantiate_now(memory_bytes, charge),
        ))
    }
}

struct WasmiInstance {
    store: Store<GuestState>,
    start: TypedFunc<(), ()>,
    memory_bytes: u64,
    fuel_slice: u64,
}

/// Raised by `poll_oneoff` to pause the call while the run sleeps; the call is resumed with
/// `errno` as the import's result.
#[derive(Debug)]
struct Sleep {
    nanos: u64,
    errno: i32,
}

impl std::fmt::Display for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sleep for {} ns", self.nanos)
    }
}

impl wasmi::errors::HostError for Sleep {}

/// WASI's `poll_oneoff` (wasi-common's, with the run's scheduler), which, when the guest only
/// sleeps, pauses the call with [`Sleep`] after the events are written.
fn sleeping_poll_oneoff(store: &mut Store<GuestState>, sleep: Arc<AtomicU64>) -> Func {
    let inner = wasmi_wasi::sync::snapshots::preview_1::wrapped::poll_oneoff::<GuestState, WasiCtx>(
        wasi_of,
    );
    Func::wrap(
        store,
        move |caller: Caller<'_, GuestState>,
              subs: i32,
              events: i32,
              n: i32,
              nevents: i32|
              -> Result<i32, wasmi::Error> {
            let errno = inner(caller, subs, events, n, nevents)?;
            match sleep.swap(NO_SLEEP, Ordering::Relaxed) {
                NO_SLEEP => Ok(errno),
                nanos => Err(wasmi::Error::host(Sleep { nanos, errno })),
            }
        },
    )
}

/// The run's WASI scheduler. A single relative sleep (what wasi-libc's `nanosleep` and Rust's
/// `thread::sleep` issue) is only recorded, and the run sleeps on a tokio timer. The in-memory
/// pipes are always ready. A poll on several clocks or an absolute one (rare) blocks, up to the
/// deadline, in `block_in_place` so the worker's other tasks move elsewhere.
struct RunSched {
    sleep: Arc<AtomicU64>,
    deadline: Instant,
}

#[wiggle::async_trait]
impl WasiSched for RunSched {
    async fn poll_oneoff<'a>(&self, poll: &mut Poll<'a>) -> Result<(), wasi_common::Error> {
        let mut any_file = false;
        for s in poll.rw_subscriptions() {
            any_file = true;
            match s {
                Subscription::Read(r) => {
                    let ready = r.file.num_ready_bytes()?;
                    r.complete(ready.max(1), RwEventFlags::empty());
                }
                Subscription::Write(w) => w.complete(0, RwEventFlags::empty()),
                Subscription::MonotonicClock(_) => {}
            }
        }
        if any_file {
            return Ok(());
        }
        if let Some(wait) = poll
            .earliest_clock_deadline()
            .and_then(|c| c.duration_until())
        {
            let wait = wait.min(self.deadline.saturating_duration_since(Instant::now()));
            let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
            if matches!(flavor, Ok(tokio::runtime::RuntimeFlavor::MultiThread)) {
                tokio::task::block_in_place(|| std::thread::sleep(wait));
            } else {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }

    async fn sched_yield(&self) -> Result<(), wasi_common::Error> {
        Ok(())
    }

    async fn sleep(&self, duration: Duration) -> Result<(), wasi_common::Error> {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(NO_SLEEP - 1);
        self.sleep.store(nanos.min(NO_SLEEP - 1), Ordering::Relaxed);
        Ok(())
    }
}

fn new_wasi_ctx(sched: Box<dyn WasiSched>) -> WasiCtx {
    WasiCtx::new(
        wasi_common::sync::random_ctx(),
        wasi_common::sync::clocks_ctx(),
        sched,
        Table::new(),
    )
}

/// Output capped as the seam's [`CappedBuffer`], as a pipe writes it.
struct CappedPipe(CappedBuffer);

impl Write for CappedPipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(self.0.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        Ok(bufs.iter().map(|b| self.0.write(b)).sum())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type SharedOut = Arc<RwLock<CappedPipe>>;

fn take_output(out: &SharedOut) -> Bytes {
    let mut pipe = out.write().unwrap_or_else(PoisonError::into_inner);
    std::mem::replace(&mut pipe.0, CappedBuffer::new(0)).into_bytes()
}

/// The run's WASI context: in-memory stdio, its args and env, no files, no sockets.
fn run_wasi(
    io: &RunIo,
    sleep: Arc<AtomicU64>,
    out: &SharedOut,
    err: &SharedOut,
) -> Result<WasiCtx, Failure> {
    let mut ctx = new_wasi_ctx(Box::new(RunSched {
        sleep,
        deadline: io.deadline,
    }));
    ctx.set_stdin(Box::new(wasi_common::pipe::ReadPipe::new(Cursor::new(
        io.stdin.clone(),
    ))));
    ctx.set_stdout(Box::new(wasi_common::pipe::WritePipe::from_shared(
        out.clone(),
    )));
    ctx.set_stderr(Box::new(wasi_common::pipe::WritePipe::from_shared(
        err.clone(),
    )));
    let bad = |e: wasi_common::StringArrayError| {
        Failure::BadRequest(format!(
            "The action's arguments or environment cannot be passed: {e}."
        ))
    };
    for a in &io.args {
        ctx.push_arg(a).map_err(bad)?;
    }
    for (k, v) in &io.env {
        ctx.push_env(k, v).map_err(bad)?;
    }
    Ok(ctx)
}

impl Instance for WasmiInstance {
    fn run(self: Box<Self>, io: RunIo) -> BoxFuture<'static, RunEnd> {
        Box::pin(async move {
            let WasmiInstance {
                mut store,
                start,
                memory_bytes,
                fuel_slice,
            } = *self;
            let out: SharedOut =
                Arc::new(RwLock::new(CappedPipe(CappedBuffer::new(io.stdout_cap))));
            let err: SharedOut =
                Arc::new(RwLock::new(CappedPipe(CappedBuffer::new(io.stderr_cap))));
            let exit = match run_wasi(&io, store.data().sleep.clone(), &out, &err) {
                Err(f) => Exit::Failed(f),
                Ok(wasi) => {
                    store.data_mut().wasi = wasi;
                    drive(&mut store, start, io.deadline, fuel_slice, memory_bytes).await
                }
            };
            let limiter = &store.data().limiter;
            let over_budget = limiter.over_budget.then_some(limiter.refused.unwrap_or(0));
            // The store holds the WASI context and with it the pipes' other handles.
            drop(store);
            RunEnd {
                stdout: take_output(&out),
                stderr: take_output(&err),
                exit,
                over_budget,
                setup: None,
                teardown: None,
            }
        })
    }
}

/// Runs `_start` to its end: a slice of fuel at a time, a yield between slices, sleeps on a
/// tokio timer, and the deadline checked at each pause.
async fn drive(
    store: &mut Store<GuestState>,
    start: TypedFunc<(), ()>,
    deadline: Instant,
    fuel_slice: u64,
    memory_bytes: u64,
) -> Exit {
    if let Err(e) = store.set_fuel(fuel_slice) {
        return Exit::Failed(Failure::Internal(format!("cannot set fuel: {e}")));
    }
    let mut call = start.call_resumable(&mut *store, ());
    loop {
        call = match call {
            Ok(TypedResumableCall::Finished(())) => return Exit::Returned,
            Ok(TypedResumableCall::OutOfFuel(paused)) => {
                if Instant::now() >= deadline {
                    return Exit::Timeout;
                }
                tokio::task::yield_now().await;
                if Instant::now() >= deadline {
                    return Exit::Timeout;
                }
                // A memory.grow or bulk copy may need more than a slice at once.
                let fuel = fuel_slice.max(paused.required_fuel());
                if let Err(e) = store.set_fuel(fuel) {
                    return Exit::Failed(Failure::Internal(format!("cannot set fuel: {e}")));
                }
                paused.resume(&mut *store)
            }
            Ok(TypedResumableCall::HostTrap(paused)) => {
                let Some(&Sleep { nanos, errno }) = paused.host_error().downcast_ref::<Sleep>()
                else {
                    return end_of(paused.host_error(), store, memory_bytes);
                };
                let wake = Instant::now().checked_add(Duration::from_nanos(nanos));
                match wake {
                    Some(wake) if wake < deadline => {
                        tokio::time::sleep_until(wake.into()).await;
                    }
                    _ => {
                        tokio::time::sleep_until(deadline.into()).await;
                        return Exit::Timeout;
                    }
                }
                paused.resume(&mut *store, &[Val::I32(errno)])
            }
            Err(e) => return end_of(&e, store, memory_bytes),
        };
    }
}

/// How a call that stopped with `e` ended.
fn end_of(e: &wasmi::Error, store: &Store<GuestState>, memory_bytes: u64) -> Exit {
    // `proc_exit`, zero or not: the result line decides, as for a process.
    if e.i32_exit_status().is_some() {
        return Exit::Returned;
    }
    if let Some(desired) = store.as_context().data().limiter.refused {
        return Exit::Failed(super::memory_exceeded(memory_bytes, desired));
    }
    Exit::Failed(match e.as_trap_code() {
        Some(TrapCode::StackOverflow) => super::stack_overflow(),
        Some(code) => super::trapped(code),
        None => Failure::ActionFailed(format!("The action failed: {e}.")),
    })
}

/// Caps the linear memory of a store — all its memories together — and its tables' elements,
/// grows the store's charge to the executor's budget with its memory, and remembers a refused
/// growth so the failure can say why the guest died (Rust guests abort when an allocation
/// fails).
struct MemoryLimiter {
    max_bytes: usize,
    refused: Option<usize>,
    /// Bytes of all the store's memories now.
    total: usize,
    /// The growth last allowed, taken back if the memory then fails to grow.
    last_growth: usize,
    /// Elements of all the store's tables now.
    table_elements: usize,
    budget: Option<Charge>,
    /// A growth was refused because the executor's memory budget was exhausted.
    over_budget: bool,
}

use super::MAX_TABLE_ELEMENTS;

impl MemoryLimiter {
    fn new(max_bytes: usize, budget: Option<Charge>) -> MemoryLimiter {
        MemoryLimiter {
            max_bytes,
            refused: None,
            total: 0,
            last_growth: 0,
            table_elements: 0,
            budget,
            over_budget: false,
        }
    }

    fn budget_limit(&self) -> u64 {
        self.budget.as_ref().map_or(0, |c| c.budget().limit())
    }
}

impl wasmi::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        let growth = desired.saturating_sub(current);
        let total = self.total.saturating_add(growth);
        if total > self.max_bytes {
            self.refused = Some(total);
            return Ok(false);
        }
        if let Some(charge) = &mut self.budget {
            let charged = charge.bytes() as usize;
            if total > charged && !charge.grow((total - charged) as u64) {
                self.refused = Some(total);
                self.over_budget = true;
                return Ok(false);
            }
        }
        self.total = total;
        self.last_growth = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: &MemoryError) -> Result<(), LimiterError> {
        self.total -= std::mem::take(&mut self.last_growth);
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        let elements = self
            .table_elements
            .saturating_add(desired.saturating_sub(current));
        if elements > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = elements;
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        8
    }

    fn memories(&self) -> usize {
        1
    }
}
