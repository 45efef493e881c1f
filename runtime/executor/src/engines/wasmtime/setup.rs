//! The wasmtime `Engine` of the process: Cranelift, epoch interruption for deadlines and
//! yields, and the pooling instance allocator where the host can reserve it.
//!
//! The pool reserves `slots × memory_reservation` of address space up front. That is fine on
//! x86_64 but fails on 39-bit-VA ARM kernels, under strict overcommit and under qemu-user, so
//! `Auto` probes: large reservations, then small ones, then on-demand allocation — and says which
//! one it got.

use std::time::Duration;

use anyhow::{Result, bail};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::{AllocatorChoice, ExecutorConfig};
use crate::engines::AllocatorInfo;

/// Small reservation used when the large one cannot be had: enough for the memory limit, at the
/// cost of explicit bounds checks in compiled code.
const SMALL_GUARD: u64 = 64 << 10;

pub fn build_engine(cfg: &ExecutorConfig) -> Result<(Engine, AllocatorInfo)> {
    let mem_limit = cfg.limits.memory_bytes;
    let mut failures = Vec::new();
    let candidates: Vec<(u32, u64)> = match cfg.allocator {
        AllocatorChoice::OnDemand => vec![],
        AllocatorChoice::Pooling | AllocatorChoice::Auto => {
            let mut c = vec![(cfg.pool.slots, cfg.pool.memory_reservation)];
            if cfg.allocator == AllocatorChoice::Auto {
                let small = mem_limit.next_multiple_of(64 << 10);
                if small < cfg.pool.memory_reservation {
                    c.push((cfg.pool.slots, small));
                    c.push((cfg.pool.slots.min(100), small));
                }
            }
            c
        }
    };
    for (slots, reservation) in candidates {
        let guard = if reservation >= 4 << 30 {
            32 << 20
        } else {
            SMALL_GUARD
        };
        let mut config = base_config(cfg);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .total_stacks(slots)
            .max_memory_size(mem_limit.min(reservation) as usize)
            .max_unused_warm_slots(slots.min(100));
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_reservation(reservation)
            .memory_guard_size(guard)
            .memory_reservation_for_growth(0);
        match Engine::new(&config) {
            Ok(engine) => {
                let reason = if failures.is_empty() {
                    "as configured".to_string()
                } else {
                    format!("after: {}", failures.join("; "))
                };
                return Ok((
                    engine,
                    AllocatorInfo {
                        kind: "pooling",
                        slots,
                        memory_reservation: reservation,
                        reason,
                    },
                ));
            }
            Err(e) => failures.push(format!(
                "pooling {slots} slots × {} MiB failed: {e:#}",
                reservation >> 20
            )),
        }
    }
    if cfg.allocator == AllocatorChoice::Pooling {
        bail!(
            "the pooling allocator could not be set up: {}",
            failures.join("; ")
        );
    }
    let config = base_config(cfg);
    let engine = Engine::new(&config)
        .map_err(|e| anyhow::anyhow!("cannot create the wasmtime engine: {e:#}"))?;
    let reason = if failures.is_empty() {
        "as configured".to_string()
    } else {
        format!("fallback after: {}", failures.join("; "))
    };
    Ok((
        engine,
        AllocatorInfo {
            kind: "on-demand",
            slots: 0,
            memory_reservation: 0,
            reason,
        },
    ))
}

fn base_config(_cfg: &ExecutorConfig) -> Config {
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        // One memory per module: a store's memory cap then bounds all it has (the limiter
        // counts every memory of a store together as well).
        .wasm_multi_memory(false)
        .memory_init_cow(true)
        // No native-to-Wasm address map: it only puts Wasm offsets into trap backtraces, and
        // it is a third of each compiled module's read-only data (52 KiB of `hash`'s 152 KiB,
        // memory per distinct sandbox).
        .generate_address_map(false)
        .max_wasm_stack(1 << 20)
        .async_stack_size(2 << 20)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// Advances the engine's epoch every `tick` until the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wow-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .expect("spawn epoch thread");
}

/// A key that changes whenever compiled code from this engine could not be loaded by another:
/// wasmtime's own compatibility hash (version, target, settings) plus our crate version.
pub fn engine_key(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("wasmtime-{}-{:016x}", wasmtime_version(), h.finish())
}

/// The version of the wasmtime crate this binary links (from Cargo.lock, at build time).
pub fn wasmtime_version() -> &'static str {
    env!("WOW_WASMTIME_VERSION")
}

#[cfg(test)]
mod tests {
    #[test]
    fn wasmtime_version_is_known() {
        let v = super::wasmtime_version();
        assert!(v.starts_with("48."), "{v}");
    }
}
