//! Counters behind `GET /metrics`, in Prometheus' text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub runs_ok: AtomicU64,
    pub run_errors: AtomicU64,
    /// Inits that compiled their code.
    pub inits_cold: AtomicU64,
    /// Inits that found their code compiled in the artifact cache.
    pub inits_warm: AtomicU64,
    pub init_errors: AtomicU64,
    pub prewarm_hits: AtomicU64,
    pub http_errors: AtomicU64,
}

/// Values read from elsewhere at scrape time.
pub struct Gauges {
    pub sandboxes: u64,
    pub pool_instances: u64,
    pub pool_bytes: u64,
    pub cache_memory_hits: u64,
    pub cache_disk_hits: u64,
    pub cache_compiles: u64,
    pub cache_disk_bytes: u64,
    pub cache_disk_evictions: u64,
    pub cache_memory_entries: u64,
    pub cache_loads_in_flight: u64,
    pub cache_compiling: u64,
    pub code_bytes: u64,
}

impl Metrics {
    pub fn render(&self, g: &Gauges) -> String {
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut put = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        };
        put(
            "wow_sandboxes",
            "gauge",
            "Sandboxes alive.",
            &[("", g.sandboxes)],
        );
        put(
            "wow_invocations_total",
            "counter",
            "Runs by outcome.",
            &[
                ("result=\"ok\"", c(&self.runs_ok)),
                ("result=\"error\"", c(&self.run_errors)),
            ],
        );
        put(
            "wow_inits_total",
            "counter",
            "Sandbox inits: cold compiled the code, warm found it cached.",
            &[
                ("kind=\"cold\"", c(&self.inits_cold)),
                ("kind=\"warm\"", c(&self.inits_warm)),
                ("kind=\"error\"", c(&self.init_errors)),
            ],
        );
        put(
            "wow_errors_total",
            "counter",
            "Error responses of any route.",
            &[("", c(&self.http_errors))],
        );
        put(
            "wow_prewarm_pool_instances",
            "gauge",
            "Pre-warmed instances ready across sandboxes.",
            &[("", g.pool_instances)],
        );
        put(
            "wow_prewarm_pool_bytes",
            "gauge",
            "Budget charged by pre-warmed instances (estimate).",
            &[("", g.pool_bytes)],
        );
        put(
            "wow_prewarm_hits_total",
            "counter",
            "Runs served by a pre-warmed instance.",
            &[("", c(&self.prewarm_hits))],
        );
        put(
            "wow_artifact_cache_hits_total",
            "counter",
            "Compiled-artifact cache hits by tier.",
            &[
                ("tier=\"memory\"", g.cache_memory_hits),
                ("tier=\"disk\"", g.cache_disk_hits),
            ],
        );
        put(
            "wow_artifact_compiles_total",
            "counter",
            "Modules compiled (cache misses).",
            &[("", g.cache_compiles)],
        );
        put(
            "wow_artifact_cache_disk_bytes",
            "gauge",
            "Bytes of compiled artifacts on disk.",
            &[("", g.cache_disk_bytes)],
        );
        put(
            "wow_artifact_cache_disk_evictions_total",
            "counter",
            "Artifacts removed from disk to stay within the bound.",
            &[("", g.cache_disk_evictions)],
        );
        put(
            "wow_artifact_cache_memory_entries",
            "gauge",
            "Compiled modules held in memory by the cache.",
            &[("", g.cache_memory_entries)],
        );
        put(
            "wow_artifact_loads_in_flight",
            "gauge",
            "Distinct modules being compiled or read from disk now.",
            &[("", g.cache_loads_in_flight)],
        );
        put(
            "wow_artifact_compiles_running",
            "gauge",
            "Compiles running now (at most --compile-concurrency).",
            &[("", g.cache_compiling)],
        );
        put(
            "wow_code_bytes",
            "gauge",
            "Compiled code held by sandboxes, each distinct module once.",
            &[("", g.code_bytes)],
        );
        out
    }
}
