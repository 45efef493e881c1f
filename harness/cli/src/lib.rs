//! The wowbench harness as a library: backends, experiments, load generation and records. The
//! `wowbench` binary is a thin command line over it.

pub mod backend;
pub mod calibrate;
pub mod ctx;
pub mod device;
pub mod experiments;
pub mod fingerprint;
pub mod inside_limits;
pub mod invoker;
pub mod loadgen;
pub mod procfs;
pub mod progress;
pub mod recorder;
pub mod rng;
pub mod runner;
pub mod signals;
pub mod suite;
