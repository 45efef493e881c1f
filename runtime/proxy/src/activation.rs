//! What one activation needs and yields, whatever the exec mode: its limits going in, and its
//! result (or failure) with the time spent executing coming out.

use std::time::Duration;

use tokio::time::Instant;
use wow_protocol::Failure;

pub struct Limits {
    /// When the run is killed.
    pub deadline: Instant,
    /// The time limit reported in the timeout error.
    pub limit_ms: u64,
    /// Most bytes per output stream.
    pub max_output: usize,
}

pub struct Outcome {
    /// The result line, as the action wrote it, or the failure to answer with.
    pub result: Result<Vec<u8>, Failure>,
    /// From handing the activation to a process to having its result.
    pub exec: Duration,
}
