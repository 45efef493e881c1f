//! `wow-runtime`: a WOW-style WebAssembly action executor.
//!
//! One process hosts many sandboxes (OpenWhisk actions), each compiled once by the platform and
//! cached by content digest, each run in a fresh instance with in-memory stdio, limits and a
//! deadline, on one of several engines (wasmtime by default). The binary serves OpenWhisk's action protocol over HTTP; the library lets the
//! harness and the benchmarks drive the same code in-process.

pub mod admission;
pub mod cache;
pub mod cli;
pub mod code;
pub mod config;
mod disk;
pub mod engines;
pub mod executor;
pub mod inject;
pub mod ladder;
mod lock;
pub mod metrics;
pub mod prewarm;
pub mod server;
pub mod timing;

pub use config::{AllocatorChoice, ExecutorConfig, Limits};
pub use executor::{DEFAULT_SANDBOX, Executor, InitOutcome, RunOutcome};
