//! A run folder: `results/<run-id>/` with `records.csv`, `summary.csv`, `meta.json`,
//! `histograms/` and, once reported, `report/`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::meta::Meta;
use crate::record::Record;
use crate::summary::{SummaryRow, read_summary, summarise, write_summary};
use crate::writer::read_records;

#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `<root>/<run_id>/` (and `histograms/`), refusing to reuse an existing run folder.
    /// Checks that the folder is writable before any experiment starts.
    pub fn create(root: &Path, run_id: &str) -> Result<RunDir> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create results folder {}", root.display()))?;
        let path = root.join(run_id);
        if path.exists() {
            bail!("run folder {} already exists", path.display());
        }
        std::fs::create_dir(&path)
            .with_context(|| format!("cannot create run folder {}", path.display()))?;
        std::fs::create_dir(path.join("histograms"))?;
        let probe = path.join(".write-probe");
        std::fs::write(&probe, vec![0u8; 64 * 1024])
            .with_context(|| format!("run folder {} is not writable", path.display()))?;
        std::fs::remove_file(&probe)?;
        Ok(RunDir { path })
    }

    /// Opens an existing run folder (it must at least have `records.csv`).
    pub fn open(path: &Path) -> Result<RunDir> {
        let dir = RunDir {
            path: path.to_path_buf(),
        };
        if !dir.records_path().is_file() {
            bail!(
                "{} is not a run folder: it has no records.csv",
                path.display()
            );
        }
        Ok(dir)
    }

    pub fn records_path(&self) -> PathBuf {
        self.path.join("records.csv")
    }
    pub fn summary_path(&self) -> PathBuf {
        self.path.join("summary.csv")
    }
    pub fn meta_path(&self) -> PathBuf {
        self.path.join("meta.json")
    }
    pub fn histograms_dir(&self) -> PathBuf {
        self.path.join("histograms")
    }
    pub fn report_dir(&self) -> PathBuf {
        self.path.join("report")
    }

    pub fn records(&self) -> Result<Vec<Record>> {
        read_records(&self.records_path())
    }

    pub fn meta(&self) -> Result<Meta> {
        Meta::read(&self.meta_path())
    }

    /// `summary.csv` if present, else derived from `records.csv`.
    pub fn summary(&self) -> Result<Vec<SummaryRow>> {
        let p = self.summary_path();
        if p.is_file() {
            read_summary(&p)
        } else {
            Ok(summarise(&self.records()?))
        }
    }

    /// Re-derives `summary.csv` from `records.csv`.
    pub fn write_summary(&self) -> Result<Vec<SummaryRow>> {
        let rows = summarise(&self.records()?);
        write_summary(&self.summary_path(), &rows)?;
        Ok(rows)
    }
}

/// A run id from the clock and a unique tag: `20261126-160054-3fa2c10b-<suffix>`.
///
/// The clock makes ids sort by start time; the tag (nanoseconds, process id and a counter,
/// mixed) keeps two runs started in the same second on one machine apart, since the id names
/// the run's folder, its containers and its device cgroup.
pub fn new_run_id(suffix: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = crate::meta::now_rfc3339(); // 2026-11-26T16:00:54Z
    let compact: String = now
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect::<String>()
        .replace('T', "-");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut h = DefaultHasher::new();
    (
        nanos,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
    )
        .hash(&mut h);
    let tag = format!("{:08x}", h.finish() as u32);
    if suffix.is_empty() {
        format!("{compact}-{tag}")
    } else {
        format!("{compact}-{tag}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_refuses_existing_and_checks_writable() {
        let root = std::env::temp_dir().join(format!("wowrun-{}", std::process::id()));
        let d = RunDir::create(&root, "r1").unwrap();
        assert!(d.histograms_dir().is_dir());
        assert!(RunDir::create(&root, "r1").is_err());
        assert!(RunDir::open(&d.path).is_err(), "no records.csv yet");
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            new_run_id("quick").len(),
            "20261126-160054-3fa2c10b-quick".len()
        );
    }

    #[test]
    fn run_ids_of_one_second_differ() {
        let ids: std::collections::BTreeSet<String> = (0..200).map(|_| new_run_id("x")).collect();
        assert_eq!(
            ids.len(),
            200,
            "two runs started together must not share an id"
        );
    }
}
