//! Reading the two sides of a comparison: a run folder, or a folder of run folders, read only
//! through `wow-records` (`records.csv` and, when present, `meta.json`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wow_records::{Meta, Record, RunDir};

/// A run folder as the comparison reads it.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub path: PathBuf,
    /// `None` when the folder has no `meta.json`.
    pub meta: Option<Meta>,
    pub records: Vec<Record>,
}

impl LoadedRun {
    /// Opens a run folder (or a folder holding exactly one run folder) and reads its records
    /// and metadata. `role` names it in errors.
    pub fn load(path: &Path, role: &str) -> Result<LoadedRun> {
        let path = resolve_run_folder(path).with_context(|| format!("{role} run"))?;
        let dir = RunDir::open(&path).with_context(|| format!("{role} run"))?;
        let records = dir
            .records()
            .with_context(|| format!("{role} run: cannot read its records"))?;
        let meta = if dir.meta_path().is_file() {
            Some(
                dir.meta()
                    .with_context(|| format!("{role} run: cannot read its metadata"))?,
            )
        } else {
            None
        };
        Ok(LoadedRun {
            path: dir.path,
            meta,
            records,
        })
    }

    /// Every run in `path`: the run folder itself, or each run folder directly inside it.
    pub fn load_all(path: &Path, role: &str) -> Result<Vec<LoadedRun>> {
        run_folders(path)
            .with_context(|| format!("{role} run"))?
            .iter()
            .map(|p| LoadedRun::load(p, role))
            .collect()
    }

    /// The run's id: from `meta.json`, else its first record, else the folder's name.
    pub fn run_id(&self) -> String {
        self.meta
            .as_ref()
            .map(|m| m.run_id.clone())
            .or_else(|| self.records.first().map(|r| r.run_id.clone()))
            .unwrap_or_else(|| {
                self.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
    }
}

/// Whether `path` is a run folder (it has `records.csv`).
fn is_run_folder(path: &Path) -> bool {
    RunDir {
        path: path.to_path_buf(),
    }
    .records_path()
    .is_file()
}

/// `path` itself when it has `records.csv`; else the sub-folders that have one (at least one).
pub fn run_folders(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    if !path.is_dir() {
        bail!("{} is not a folder (give the run folder)", path.display());
    }
    if is_run_folder(path) {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut runs: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_run_folder(p))
        .collect();
    runs.sort();
    if runs.is_empty() {
        bail!(
            "{} is not a run folder: it has no records.csv",
            path.display()
        );
    }
    Ok(runs)
}

/// `path` itself when it has `records.csv`; else its only sub-folder that has one.
pub fn resolve_run_folder(path: &Path) -> Result<PathBuf> {
    let mut runs = run_folders(path)?;
    match runs.len() {
        1 => Ok(runs.remove(0)),
        _ => bail!(
            "{} holds {} run folders; name one: {}",
            path.display(),
            runs.len(),
            runs.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The hand-made run folder of the gate's command-line tests.
    pub(crate) fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures/compare/base")
    }

    /// A fresh, empty folder under the system's temporary folder.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wow-compare-load-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A copy of the fixture's `records.csv` and `meta.json` in `dir`.
    fn copy_fixture(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for f in ["records.csv", "meta.json"] {
            std::fs::copy(fixture().join(f), dir.join(f)).unwrap();
        }
    }

    #[test]
    fn loads_the_fixture_run_folder() {
        let run = LoadedRun::load(&fixture(), "baseline").unwrap();
        assert_eq!(run.records.len(), 65);
        let meta = run.meta.as_ref().expect("the fixture has meta.json");
        assert_eq!(run.run_id(), meta.run_id);
        assert_eq!(run.run_id(), "20261126-120000-fixture");
        assert!(
            run.records.iter().any(|r| !r.ok),
            "one failed attempt is kept"
        );
    }

    #[test]
    fn a_folder_of_run_folders_is_several_runs_or_must_be_named() {
        let root = scratch("several");
        copy_fixture(&root.join("b"));
        copy_fixture(&root.join("a"));
        std::fs::create_dir_all(root.join("not-a-run")).unwrap();
        let runs = LoadedRun::load_all(&root, "baseline").unwrap();
        let names: Vec<_> = runs.iter().map(|r| r.path.file_name().unwrap()).collect();
        assert_eq!(names, ["a", "b"], "run folders only, sorted");
        let err = LoadedRun::load(&root, "current").unwrap_err();
        assert!(
            format!("{err:#}").contains("holds 2 run folders"),
            "{err:#}"
        );
        // One run inside a folder is that run.
        std::fs::remove_dir_all(root.join("b")).unwrap();
        let run = LoadedRun::load(&root, "current").unwrap();
        assert_eq!(run.path, root.join("a"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn without_meta_json_the_id_comes_from_the_records() {
        let root = scratch("no-meta");
        copy_fixture(&root);
        std::fs::remove_file(root.join("meta.json")).unwrap();
        let run = LoadedRun::load(&root, "current").unwrap();
        assert!(run.meta.is_none());
        assert_eq!(run.run_id(), "20261126-120000-fixture");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn bad_folders_are_named_in_the_error() {
        let root = scratch("bad");
        let missing = root.join("missing");
        let err = LoadedRun::load(&missing, "baseline").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!("baseline run: {} does not exist", missing.display())
        );
        let empty = LoadedRun::load_all(&root, "baseline").unwrap_err();
        assert!(
            format!("{empty:#}").contains("has no records.csv"),
            "{empty:#}"
        );
        let file = root.join("records.csv.txt");
        std::fs::write(&file, "").unwrap();
        let err = LoadedRun::load(&file, "current").unwrap_err();
        assert!(format!("{err:#}").contains("is not a folder"), "{err:#}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
