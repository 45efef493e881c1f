//! `prime`: CPU- and memory-bound, the paper's sieve. Counts the primes below `n` with the sieve
//! of Eratosthenes (one byte per number, so `n` bytes of memory).
//!
//! Parameters: `n` (0..=50,000,000, default 10,000).
//! Result: `{"n": n, "count": …, "largest": p or null, "sum": …}` over the primes `p < n`.

use wow_workloads::{Error, Params, Value, json, uint};

fn run(params: &Params) -> Result<Value, Error> {
    let n = uint(params, "n", 10_000, 0..=50_000_000)?;
    let limit = n as usize;
    let mut composite = vec![false; limit.max(2)];
    let mut i = 2;
    while i * i < limit {
        if !composite[i] {
            for multiple in (i * i..limit).step_by(i) {
                composite[multiple] = true;
            }
        }
        i += 1;
    }
    let (mut count, mut sum, mut largest) = (0u64, 0u64, None);
    for (p, _) in composite
        .iter()
        .enumerate()
        .take(limit)
        .skip(2)
        .filter(|(_, c)| !**c)
    {
        count += 1;
        sum += p as u64;
        largest = Some(p as u64);
    }
    Ok(json!({ "n": n, "count": count, "largest": largest, "sum": sum }))
}

fn main() {
    wow_workloads::main(run)
}
