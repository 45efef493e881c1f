//! `sleep`: I/O-bound, the paper's 300 ms blocking call. Blocks in `std::thread::sleep`, which in
//! Wasm is a WASI `poll_oneoff` on a clock.
//!
//! Parameters: `ms` (0..=600,000, default 300). Result: `{"slept_ms": ms}`.

use std::time::Duration;

use wow_workloads::{Error, Params, Value, json, uint};

fn run(params: &Params) -> Result<Value, Error> {
    let ms = uint(params, "ms", 300, 0..=600_000)?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(json!({ "slept_ms": ms }))
}

fn main() {
    wow_workloads::main(run)
}
