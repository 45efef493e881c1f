//! One measurement per row: the tidy-data record every stage reads and writes.

use serde::{Deserialize, Serialize};

/// One measurement. Column names and vocabulary are documented in `results/README.md`; scripts
/// and CI read them, so keep them stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub run_id: String,
    /// `cold-start`, `memory`, `throughput`, `capacity`, `realistic`, `ladder`, …
    pub experiment: String,
    /// `wasm` or `docker`.
    pub backend: String,
    /// The Wasm engine of a Wasm row (`wasmtime`, `wasmer`, `wamr`, `wasmi`); empty for other
    /// rows. Records written before engines were a dimension read as `wasmtime`.
    #[serde(default)]
    pub engine: String,
    /// The series: `compile`, `precompiled`, `create-start`, `prestarted`, `shared`, ….
    pub variant: String,
    /// The sandbox policy in force: `paper`, `fair` or `default`.
    pub config: String,
    pub workload: String,
    /// `host` or an edge profile such as `pi3`.
    pub device: String,
    /// Concurrent cold starts, clients, sandboxes: the experiment's x axis.
    pub concurrency: u32,
    /// Repetition index within the group.
    pub iteration: u32,
    /// The block of a paired run (`run --baseline-executor`) the row was measured in: such a run
    /// alternates between the baseline's executor and its own, one block each in turn, and
    /// `compare` pairs the two runs' rows block by block. 0 in any other run (and in records
    /// written before the column existed).
    #[serde(default)]
    pub block: u32,
    /// `provision`, `init`, `first_run`, `cold_start`, `first_response`, `warm`, `full`, `paper`, ….
    pub phase: String,
    /// `latency`, `memory_per_sandbox`, `throughput`, `latency_p99`, `errors`, `capacity`, ….
    pub metric: String,
    pub value: f64,
    /// `us`, `bytes`, `rps`, `count`, ….
    pub unit: String,
    /// False when the measurement failed; `value` is then meaningless and `note` says why.
    pub ok: bool,
    /// Free text: the error of a failed row, or a remark.
    #[serde(default)]
    pub note: String,
}

/// The columns that identify a group of repeated measurements (everything but the repetition,
/// the value and its status).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKey {
    pub experiment: String,
    pub backend: String,
    #[serde(default)]
    pub engine: String,
    pub variant: String,
    pub config: String,
    pub workload: String,
    pub device: String,
    pub concurrency: u32,
    pub phase: String,
    pub metric: String,
    pub unit: String,
}

impl Record {
    /// Names the engine of a Wasm row written before the `engine` column existed.
    pub fn fill_engine(&mut self) {
        if self.engine.is_empty() && self.backend == crate::Backend::Wasm {
            self.engine = crate::Engine::REFERENCE.as_str().to_string();
        }
    }

    pub fn key(&self) -> GroupKey {
        GroupKey {
            experiment: self.experiment.clone(),
            backend: self.backend.clone(),
            engine: self.engine.clone(),
            variant: self.variant.clone(),
            config: self.config.clone(),
            workload: self.workload.clone(),
            device: self.device.clone(),
            concurrency: self.concurrency,
            phase: self.phase.clone(),
            metric: self.metric.clone(),
            unit: self.unit.clone(),
        }
    }
}

impl GroupKey {
    /// A file-name-safe label, e.g. for the group's histogram file.
    pub fn slug(&self) -> String {
        // The reference engine is left out, so a group keeps the name it had before engines
        // were a dimension (committed baselines' histogram files still match).
        let engine = match self.engine.as_str() {
            "wasmtime" => "",
            e => e,
        };
        let parts = [
            self.experiment.as_str(),
            self.backend.as_str(),
            engine,
            self.variant.as_str(),
            self.config.as_str(),
            self.workload.as_str(),
            self.device.as_str(),
            &format!("c{}", self.concurrency),
            self.phase.as_str(),
            self.metric.as_str(),
        ];
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("__")
    }
}
