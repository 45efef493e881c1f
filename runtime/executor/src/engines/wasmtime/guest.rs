//! What a guest's `Store` carries: its WASI context (in-memory stdio, no files, no sockets) and
//! the memory limiter that records when the guest asked for more than its cap.

use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::admission::Charge;

pub struct GuestState {
    pub wasi: WasiP1Ctx,
    pub limiter: MemoryLimiter,
}

/// Caps the linear memory of a store — all its memories together — and its tables' elements;
/// remembers a refused growth so the error can say why the guest died (Rust guests abort when an
/// allocation fails).
pub struct MemoryLimiter {
    pub max_bytes: usize,
    pub refused: Option<usize>,
    /// Bytes of all the store's memories now.
    total: usize,
    /// The growth last allowed, taken back if the memory then fails to grow.
    last_growth: usize,
    /// Elements of all the store's tables now.
    table_elements: usize,
    /// The store's charge to the executor's memory budget, grown with its memories.
    budget: Option<Charge>,
    /// A growth was refused because the executor's memory budget was exhausted.
    pub over_budget: bool,
}

pub use crate::engines::MAX_TABLE_ELEMENTS;

impl MemoryLimiter {
    /// The executor's memory budget this store is charged to, bytes (0 = none).
    pub fn budget_limit(&self) -> u64 {
        self.budget.as_ref().map_or(0, |c| c.budget().limit())
    }

    pub fn new(max_bytes: usize) -> MemoryLimiter {
        MemoryLimiter {
            max_bytes,
            refused: None,
            total: 0,
            last_growth: 0,
            table_elements: 0,
            budget: None,
            over_budget: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
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

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.total -= std::mem::take(&mut self.last_growth);
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let elements = self
            .table_elements
            .saturating_add(desired.saturating_sub(current));
        if elements > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = elements;
        Ok(true)
    }
}

/// A store ready for instantiation: a placeholder WASI context (replaced per run), the limiter
/// installed, and an epoch deadline that only yields (the run sets the real one).
pub fn new_store(engine: &Engine, memory_bytes: u64) -> Store<GuestState> {
    budgeted_store(engine, memory_bytes, None)
}

/// [`new_store`] whose memory is charged to the executor's budget, starting from `charge`
/// (taken for the instance's initial memory before it was admitted).
pub fn budgeted_store(
    engine: &Engine,
    memory_bytes: u64,
    charge: Option<Charge>,
) -> Store<GuestState> {
    let mut limiter = MemoryLimiter::new(memory_bytes as usize);
    limiter.budget = charge;
    let state = GuestState {
        wasi: WasiCtxBuilder::new().build_p1(),
        limiter,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
    store
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Instance, Module};

    /// Multi-memory is off in the executor's engine; were a store to hold several memories
    /// anyway, the cap still applies to all of them together.
    #[test]
    fn the_cap_covers_all_memories_of_a_store_together() {
        let mut config = wasmtime::Config::new();
        config.wasm_multi_memory(true).epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        let wasm = wat::parse_str(
            r#"(module (memory $a 16) (memory $b 16)
              (func (export "grow_a") (param i32) (result i32) (memory.grow $a (local.get 0)))
              (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0))))"#,
        )
        .unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        // 40 pages: both memories' 32 fit, 9 more do not.
        let mut store = new_store(&engine, 40 * 65536);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let grow_a = instance
            .get_typed_func::<i32, i32>(&mut store, "grow_a")
            .unwrap();
        let grow_b = instance
            .get_typed_func::<i32, i32>(&mut store, "grow_b")
            .unwrap();
        assert_eq!(grow_a.call(&mut store, 9).unwrap(), -1, "41 pages in all");
        assert_eq!(store.data().limiter.refused, Some(41 * 65536));
        assert_eq!(grow_b.call(&mut store, 8).unwrap(), 16, "40 pages in all");
        assert_eq!(grow_a.call(&mut store, 1).unwrap(), -1, "41 pages in all");
    }
}
