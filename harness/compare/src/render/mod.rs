//! The output formats of a comparison, one module each behind [`Exporter`]: a terminal
//! [`table`], [`markdown`] for a CI job summary, [`json`], and the two files of
//! github-action-benchmark ([`github`]); [`cells`] and [`text`] hold what they share.

pub mod cells;
pub mod github;
pub mod json;
pub mod markdown;
pub mod table;
pub mod text;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::model::Comparison;

/// One output format: the files it saves into an output folder.
pub trait Exporter {
    /// Each file's name and text.
    fn export(&self, cmp: &Comparison) -> Result<Vec<(&'static str, String)>>;
}

/// Every format, in the order their files are written.
pub const EXPORTERS: [&dyn Exporter; 4] = [
    &table::TableExporter,
    &markdown::MarkdownExporter,
    &json::JsonExporter,
    &github::GithubBenchmarkExporter,
];

/// What a comparison prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for a terminal.
    Table,
    /// Markdown, e.g. for a CI job summary.
    Markdown,
    /// Every group with its change, interval, sample counts and verdict.
    Json,
    /// github-action-benchmark's files, written into an output folder; a table on stdout.
    GithubBenchmark,
}

impl Format {
    /// The text for stdout.
    pub fn stdout(self, cmp: &Comparison) -> Result<String> {
        Ok(match self {
            Format::Table | Format::GithubBenchmark => table::render(cmp),
            Format::Markdown => markdown::render(cmp),
            Format::Json => json::render(cmp)?,
        })
    }

    /// Whether the format's output is files only, so that an output folder is required.
    pub fn needs_output_folder(self) -> bool {
        self == Format::GithubBenchmark
    }
}

/// Writes every format's files into `dir` (made if missing); returns the paths written.
pub fn write_outputs(cmp: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    for exporter in EXPORTERS {
        files.extend(exporter.export(cmp)?);
    }
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadedRun, tests::fixture};
    use crate::{Options, compare};

    fn fixture_with_itself() -> Comparison {
        let run = LoadedRun::load(&fixture(), "baseline").unwrap();
        compare(std::slice::from_ref(&run), &run, &Options::default()).unwrap()
    }

    #[test]
    fn every_format_of_a_run_against_itself() {
        let cmp = fixture_with_itself();
        // One Docker memory group has a single sample a side.
        let line = format!(
            "no regression in {} matched groups (1 with n too small to judge)",
            cmp.groups.len()
        );
        let table = Format::Table.stdout(&cmp).unwrap();
        assert!(table.starts_with("baseline: 20261126-120000-fixture (complete, "));
        assert!(table.ends_with(&format!("{line}\n")), "{table}");
        assert_eq!(Format::GithubBenchmark.stdout(&cmp).unwrap(), table);
        let md = Format::Markdown.stdout(&cmp).unwrap();
        assert!(
            md.starts_with(&format!("## ✅ wowbench compare: {line}\n")),
            "{md}"
        );
        assert!(!md.contains("### Regressions"));
        let json: serde_json::Value =
            serde_json::from_str(&Format::Json.stdout(&cmp).unwrap()).unwrap();
        assert_eq!(json["groups"].as_array().unwrap().len(), cmp.groups.len());
        let (smaller, bigger) = github::entries(&cmp);
        assert!(!smaller.is_empty() && !bigger.is_empty());
        assert!(smaller.len() + bigger.len() <= cmp.groups.len());
    }

    #[test]
    fn write_outputs_writes_every_file() {
        let dir = std::env::temp_dir().join(format!("wow-compare-render-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let written = write_outputs(&fixture_with_itself(), &dir).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "comparison.txt",
                "comparison.md",
                "comparison.json",
                "smaller-is-better.json",
                "bigger-is-better.json"
            ]
        );
        assert!(written.iter().all(|p| p.is_file()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
