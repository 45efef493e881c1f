//! `hash`: CPU-bound, the paper's action. BLAKE3 of `input`, then re-hashed: the result is
//! `h(iterations)` where `h(1) = blake3(input)` and `h(k + 1) = blake3(h(k))` (32 raw bytes).
//!
//! Parameters: `input` (string, default "wowbench"), `iterations` (1..=100,000,000, default 1000).
//! Result: `{"hash": "<64 hex digits>", "iterations": n}`.

use wow_workloads::{Error, Params, Value, json, string, uint};

fn run(params: &Params) -> Result<Value, Error> {
    let input = string(params, "input", "wowbench", 1 << 20)?;
    let iterations = uint(params, "iterations", 1000, 1..=100_000_000)?;
    let mut digest = blake3::hash(input.as_bytes());
    for _ in 1..iterations {
        digest = blake3::hash(digest.as_bytes());
    }
    Ok(json!({ "hash": digest.to_hex().as_str(), "iterations": iterations }))
}

fn main() {
    wow_workloads::main(run)
}
