//! The paper's values, read from `report/paper.toml` (embedded at build time). Every value there
//! names its source; nothing about the paper is typed into code.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::OnceLock;

use serde::Deserialize;
use wow_records::Backend;

/// The data file, as shipped with the crate.
pub const PAPER_TOML: &str = include_str!("../paper.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Paper {
    pub citation: Citation,
    pub devices: BTreeMap<String, PaperDevice>,
    pub setup: PaperSetup,
    #[serde(rename = "claim")]
    pub claims: Vec<PaperClaim>,
    pub method: Method,
    pub figures: Figures,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Citation {
    pub text: String,
    pub doi: String,
    pub read_off_plots: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaperDevice {
    pub label: String,
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaperSetup {
    pub platform: String,
    pub wasm_runtime: String,
    pub docker_baseline: String,
    pub docker_baseline_detail: String,
}

/// One headline claim of the paper, keyed by the report's headline id.
#[derive(Debug, Clone, Deserialize)]
pub struct PaperClaim {
    pub id: String,
    /// As the paper states it (or "—" when the paper did not measure it).
    pub value: String,
    /// A key of `[devices]`.
    pub device: String,
    pub setup: String,
    pub source: String,
    /// The Wasm runtime, when not `setup.wasm_runtime`.
    #[serde(default)]
    pub runtime: Option<String>,
}

impl PaperClaim {
    /// Whether the paper measured this at all.
    pub fn measured(&self) -> bool {
        self.value.trim() != "—"
    }
}

/// How the paper computed values that this run computes the same way.
#[derive(Debug, Clone, Deserialize)]
pub struct Method {
    /// `[first, last]`: the client levels of the mixed-throughput ratio's mean.
    pub mixed_throughput_clients: [u32; 2],
}

#[derive(Debug, Clone, Deserialize)]
pub struct Figures {
    pub cold_start: ColdStartFigure,
    pub module_memory: ModuleMemoryFigure,
    pub realistic: RealisticFigure,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ColdStartFigure {
    pub source: String,
    pub device: String,
    pub concurrent: Vec<u32>,
    pub docker_ms: Vec<f64>,
    pub wasmtime_ms: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModuleMemoryFigure {
    pub source: String,
    pub device: String,
    pub builds: Vec<String>,
    pub wasm_size: Vec<String>,
    pub docker_mib: Vec<f64>,
    pub wasmtime_mib: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RealisticFigure {
    pub source: String,
    pub device: String,
    pub quantiles: Vec<f64>,
    pub docker_ms: Vec<f64>,
    pub wasmtime_ms: Vec<f64>,
}

/// One of the paper's curves in this run's units (µs for times), with the backend it measured.
#[derive(Debug, Clone)]
pub struct Curve {
    pub backend: Backend,
    pub points: Vec<(f64, f64)>,
}

/// Docker's, then the Wasm runtime's curve, from the columns `docker` and `wasm` at `x`.
fn curves(docker: &[f64], wasm: &[f64], point: impl Fn(usize, f64) -> (f64, f64)) -> Vec<Curve> {
    [(Backend::Docker, docker), (Backend::Wasm, wasm)]
        .into_iter()
        .map(|(backend, values)| Curve {
            backend,
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| point(i, *v))
                .collect(),
        })
        .collect()
}

impl ColdStartFigure {
    /// Cold start (µs) by concurrent cold starts: Docker, then wasmtime.
    pub fn curves(&self) -> Vec<Curve> {
        curves(&self.docker_ms, &self.wasmtime_ms, |i, ms| {
            (self.concurrent[i] as f64, ms * 1000.0)
        })
    }
}

impl RealisticFigure {
    /// The ECDF as (latency in µs, quantile): Docker, then wasmtime.
    pub fn curves(&self) -> Vec<Curve> {
        curves(&self.docker_ms, &self.wasmtime_ms, |i, ms| {
            (ms * 1000.0, self.quantiles[i])
        })
    }
}

/// The paper's values for one module build.
#[derive(Debug, Clone, Copy)]
pub struct PaperBuild<'a> {
    pub wasm_size: &'a str,
    pub docker_mib: f64,
    pub wasmtime_mib: f64,
}

impl ModuleMemoryFigure {
    /// The paper's values for a build (`release-lto`, …), when it measured that build.
    pub fn build(&self, build: &str) -> Option<PaperBuild<'_>> {
        let i = self.builds.iter().position(|b| b == build)?;
        Some(PaperBuild {
            wasm_size: &self.wasm_size[i],
            docker_mib: self.docker_mib[i],
            wasmtime_mib: self.wasmtime_mib[i],
        })
    }

    /// Docker's memory per container for the first build (the paper's Docker baseline).
    pub fn docker_mib(&self) -> Option<f64> {
        self.docker_mib.first().copied()
    }
}

impl Paper {
    pub fn parse(text: &str) -> anyhow::Result<Paper> {
        let p: Paper = toml::from_str(text)?;
        for c in &p.claims {
            anyhow::ensure!(
                p.devices.contains_key(&c.device),
                "claim {} names unknown device {}",
                c.id,
                c.device
            );
        }
        let f = &p.figures;
        anyhow::ensure!(
            f.cold_start.concurrent.len() == f.cold_start.docker_ms.len()
                && f.cold_start.concurrent.len() == f.cold_start.wasmtime_ms.len(),
            "figures.cold_start: columns differ in length"
        );
        let m = &f.module_memory;
        anyhow::ensure!(
            [m.wasm_size.len(), m.docker_mib.len(), m.wasmtime_mib.len()]
                .iter()
                .all(|n| *n == m.builds.len()),
            "figures.module_memory: columns differ in length"
        );
        let r = &f.realistic;
        anyhow::ensure!(
            r.docker_ms.len() == r.quantiles.len() && r.wasmtime_ms.len() == r.quantiles.len(),
            "figures.realistic: columns differ in length"
        );
        let [lo, hi] = p.method.mixed_throughput_clients;
        anyhow::ensure!(lo <= hi, "method.mixed_throughput_clients: {lo} > {hi}");
        Ok(p)
    }

    /// The client levels the paper averaged its mixed-throughput ratio over.
    pub fn mixed_throughput_clients(&self) -> RangeInclusive<u32> {
        let [lo, hi] = self.method.mixed_throughput_clients;
        lo..=hi
    }

    /// What the paper's figures call a backend's sandbox: `Docker`, or its Wasm runtime.
    pub fn sandbox_name(&self, backend: Backend) -> &str {
        match backend {
            Backend::Wasm => &self.setup.wasm_runtime,
            _ => "Docker",
        }
    }

    /// The legend of a value read off the paper's figures: `paper: Docker (x86 server, fig.)`.
    pub fn figure_label(&self, what: &str, device: &str) -> String {
        format!("paper: {what} ({}, fig.)", self.device_label(device))
    }

    pub fn claim(&self, id: &str) -> Option<&PaperClaim> {
        self.claims.iter().find(|c| c.id == id)
    }

    pub fn device_label<'a>(&'a self, key: &'a str) -> &'a str {
        self.devices.get(key).map_or(key, |d| d.label.as_str())
    }
}

/// The embedded paper data (validated by the crate's tests).
pub fn paper() -> &'static Paper {
    static P: OnceLock<Paper> = OnceLock::new();
    P.get_or_init(|| Paper::parse(PAPER_TOML).expect("report/paper.toml is valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_toml_parses_and_cites() {
        let p = Paper::parse(PAPER_TOML).unwrap();
        assert!(p.citation.doi.starts_with("10.1109/"));
        assert!(p.claims.iter().all(|c| !c.source.is_empty()));
        assert!(p.claim("cold-start-low").is_some());
    }
}
