//! What a guest's `Store` carries: its WASI context (in-memory stdio, no files, no sockets) and
//! the memory limiter that records when the guest asked for more than its cap.

use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

pub struct GuestState {
    pub wasi: WasiP1Ctx,
    pub limiter: MemoryLimiter,
}

/// Caps linear memory per instance; remembers a refused growth so the error can say why the
/// guest died (Rust guests abort when an allocation fails).
pub struct MemoryLimiter {
    pub max_bytes: usize,
    pub refused: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// A store ready for instantiation: a placeholder WASI context (replaced per run), the limiter
/// installed, and an epoch deadline that only yields (the run sets the real one).
pub fn new_store(engine: &Engine, memory_bytes: u64) -> Store<GuestState> {
    let state = GuestState {
        wasi: WasiCtxBuilder::new().build_p1(),
        limiter: MemoryLimiter {
            max_bytes: memory_bytes as usize,
            refused: None,
        },
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
    store
}
