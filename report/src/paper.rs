//! The paper's values, read from `report/paper.toml` (embedded at build time). Every value there
//! names its source; nothing about the paper is typed into code.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The data file, as shipped with the crate.
pub const PAPER_TOML: &str = include_str!("../paper.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Paper {
    pub citation: Citation,
    pub devices: BTreeMap<String, PaperDevice>,
    pub setup: PaperSetup,
    #[serde(rename = "claim")]
    pub claims: Vec<PaperClaim>,
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
        Ok(p)
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
