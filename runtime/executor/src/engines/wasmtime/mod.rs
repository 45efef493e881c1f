//! wasmtime, the reference engine: Cranelift, precompiled `.cwasm` artifacts, the pooling
//! allocator where the host can reserve it, epoch interruption for deadlines and yields, and
//! guests as async tasks so one sleeping in `poll_oneoff` holds no OS thread.

pub mod guest;
pub mod setup;

use std::any::Any;
use std::sync::Arc;

use wasmtime::{InstancePre, Linker, Module, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wow_protocol::Failure;

use super::AllocatorInfo;
use super::{
    BoxFuture, Code, Engine, EngineInfo, EngineName, Exit, Instance, Mode, Prepared, RunEnd, RunIo,
};
use crate::admission::Charge;
use crate::config::ExecutorConfig;
use guest::{GuestState, budgeted_store};
use setup::{build_engine, engine_key, start_epoch_ticker};

pub struct Wasmtime {
    pub engine: wasmtime::Engine,
    pub allocator: AllocatorInfo,
    linker: Linker<GuestState>,
    info: EngineInfo,
    key: String,
}

impl Wasmtime {
    /// Builds the engine (probing the allocator) and the WASI linker, and starts the epoch
    /// ticker.
    pub fn new(cfg: &ExecutorConfig) -> anyhow::Result<Wasmtime> {
        let (engine, allocator) = build_engine(cfg)?;
        tracing::info!(
            kind = allocator.kind,
            slots = allocator.slots,
            reservation_mib = allocator.memory_reservation >> 20,
            "instance allocator: {}",
            allocator.reason
        );
        start_epoch_ticker(&engine, cfg.epoch_tick);
        let mut linker: Linker<GuestState> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut GuestState| &mut s.wasi)
            .map_err(|e| anyhow::anyhow!("cannot link WASI: {e:#}"))?;
        let key = engine_key(&engine);
        let info = EngineInfo {
            name: EngineName::Wasmtime,
            version: setup::wasmtime_version(),
            mode: Mode::Jit,
            tier: "cranelift",
            allocator: allocator.clone(),
            deadline: "epoch",
            prewarm: true,
        };
        Ok(Wasmtime {
            engine,
            allocator,
            linker,
            info,
            key,
        })
    }
}

/// A compiled wasmtime module.
pub struct WasmtimeCode(pub Module);

impl Code for WasmtimeCode {
    fn code_bytes(&self) -> u64 {
        let r = self.0.image_range();
        (r.end as usize - r.start as usize) as u64
    }

    fn initial_memory_bytes(&self) -> u64 {
        self.0
            .resources_required()
            .max_initial_memory_size
            .unwrap_or(0)
            .saturating_mul(65536)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn module(code: &dyn Code) -> &Module {
    &code
        .as_any()
        .downcast_ref::<WasmtimeCode>()
        .expect("code compiled by this engine")
        .0
}

impl Engine for Wasmtime {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn key(&self) -> &str {
        &self.key
    }

    fn compile(&self, wasm: &[u8]) -> anyhow::Result<Arc<dyn Code>> {
        Ok(Arc::new(WasmtimeCode(Module::new(&self.engine, wasm)?)))
    }

    fn serialize(&self, code: &dyn Code, _wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(module(code).serialize()?)
    }

    unsafe fn load(&self, bytes: &[u8]) -> anyhow::Result<Arc<dyn Code>> {
        // SAFETY: the caller's contract (bytes from `serialize` of this engine's key); wasmtime
        // re-checks the header and its compatibility hash.
        let m = unsafe { Module::deserialize(&self.engine, bytes) }?;
        Ok(Arc::new(WasmtimeCode(m)))
    }

    unsafe fn load_file(&self, path: &std::path::Path) -> anyhow::Result<Arc<dyn Code>> {
        // SAFETY: as for `load`.
        let m = unsafe { Module::deserialize_file(&self.engine, path) }?;
        Ok(Arc::new(WasmtimeCode(m)))
    }

    fn prepare(&self, code: &Arc<dyn Code>) -> Result<Arc<dyn Prepared>, Failure> {
        let module = module(&**code);
        let has_start = module.exports().any(|e| {
            e.name() == "_start"
                && e.ty()
                    .func()
                    .is_some_and(|f| f.params().len() == 0 && f.results().len() == 0)
        });
        if !has_start {
            return Err(super::not_a_command());
        }
        let pre = self
            .linker
            .instantiate_pre(module)
            .map_err(|e| Failure::InitFailed(format!("It cannot be linked: {e:#}")))?;
        Ok(Arc::new(WasmtimePrepared {
            engine: self.engine.clone(),
            pre,
        }))
    }
}

struct WasmtimePrepared {
    engine: wasmtime::Engine,
    pre: InstancePre<GuestState>,
}

impl Prepared for WasmtimePrepared {
    fn instantiate(
        &self,
        memory_bytes: u64,
        charge: Charge,
    ) -> BoxFuture<'_, Result<Box<dyn Instance>, Failure>> {
        Box::pin(async move {
            let mut store = budgeted_store(&self.engine, memory_bytes, Some(charge));
            match self.pre.instantiate_async(&mut store).await {
                Ok(instance) => Ok(Box::new(WasmtimeInstance {
                    store,
                    instance,
                    memory_bytes,
                }) as Box<dyn Instance>),
                Err(e) => {
                    // The guest's own fault (a data segment out of bounds, memory refused) is an
                    // action failure; anything else is ours.
                    let limiter = &store.data().limiter;
                    if limiter.over_budget {
                        return Err(super::over_budget_failure(
                            limiter.budget_limit(),
                            limiter.refused,
                        ));
                    }
                    Err(
                        if limiter.refused.is_some() || e.downcast_ref::<Trap>().is_some() {
                            classify_trap(&e, limiter.refused, memory_bytes)
                        } else {
                            Failure::Internal(format!("instantiation failed: {e:#}"))
                        },
                    )
                }
            }
        })
    }
}

struct WasmtimeInstance {
    store: Store<GuestState>,
    instance: wasmtime::Instance,
    memory_bytes: u64,
}

/// The error a deadline callback raises to stop a guest.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

impl Instance for WasmtimeInstance {
    fn run(self: Box<Self>, io: RunIo) -> BoxFuture<'static, RunEnd> {
        Box::pin(async move {
            let WasmtimeInstance {
                mut store,
                instance,
                memory_bytes,
            } = *self;
            let began = std::time::Instant::now();
            let stdout = MemoryOutputPipe::new(io.stdout_cap);
            let stderr = MemoryOutputPipe::new(io.stderr_cap);
            store.data_mut().wasi = WasiCtxBuilder::new()
                .stdin(MemoryInputPipe::new(io.stdin))
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .args(&io.args)
                .envs(&io.env)
                .build_p1();
            let deadline = io.deadline;
            store.epoch_deadline_callback(move |_| {
                if std::time::Instant::now() >= deadline {
                    Err(wasmtime::Error::new(DeadlineExceeded))
                } else {
                    Ok(UpdateDeadline::Yield(1))
                }
            });
            store.set_epoch_deadline(1);
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start");
            let setup = began.elapsed();
            let exit = match start {
                Err(e) => Exit::Failed(Failure::Internal(format!("no _start: {e:#}"))),
                Ok(start) => {
                    let outcome =
                        tokio::time::timeout_at(deadline.into(), start.call_async(&mut store, ()))
                            .await;
                    match outcome {
                        Err(_elapsed) => Exit::Timeout,
                        Ok(Ok(())) => Exit::Returned,
                        Ok(Err(e)) if e.is::<DeadlineExceeded>() => Exit::Timeout,
                        // A clean exit, zero or not: the result line decides, as for a process.
                        Ok(Err(e)) if e.downcast_ref::<wasmtime_wasi::I32Exit>().is_some() => {
                            Exit::Returned
                        }
                        Ok(Err(e)) => {
                            let refused = store.data().limiter.refused;
                            Exit::Failed(classify_trap(&e, refused, memory_bytes))
                        }
                    }
                }
            };
            let limiter = &store.data().limiter;
            let over_budget = limiter.over_budget.then_some(limiter.refused.unwrap_or(0));
            let ended = std::time::Instant::now();
            drop(store);
            RunEnd {
                stdout: stdout.contents(),
                stderr: stderr.contents(),
                exit,
                over_budget,
                setup: Some(setup),
                teardown: Some(ended.elapsed()),
            }
        })
    }
}

fn classify_trap(e: &wasmtime::Error, refused: Option<usize>, memory_bytes: u64) -> Failure {
    if let Some(desired) = refused {
        return super::memory_exceeded(memory_bytes, desired);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => super::stack_overflow(),
        Some(t) => super::trapped(t),
        None => Failure::ActionFailed(format!("The action failed: {e:#}")),
    }
}
