//! Appends records to `records.csv` so that a crash never leaves a torn file: each row is
//! formatted in memory and written with one `write_all` on an append-mode file, and
//! [`RecordWriter::checkpoint`] fsyncs at experiment boundaries.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::record::Record;

pub struct RecordWriter {
    path: PathBuf,
    file: File,
    rows: u64,
}

impl RecordWriter {
    /// Creates `path` with the header row, or appends to it when it already has one.
    pub fn open(path: &Path) -> Result<Self> {
        let existing = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        if existing == 0 {
            file.write_all(header().as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(RecordWriter {
            path: path.to_path_buf(),
            file,
            rows: 0,
        })
    }

    pub fn append(&mut self, record: &Record) -> Result<()> {
        let row = format_row(record)?;
        self.file
            .write_all(&row)
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        self.rows += 1;
        Ok(())
    }

    pub fn append_all<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>) -> Result<()> {
        for r in records {
            self.append(r)?;
        }
        Ok(())
    }

    /// Forces everything written so far to disk.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .with_context(|| format!("cannot sync {}", self.path.display()))
    }

    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn header() -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(vec![]);
    w.write_record(COLUMNS).expect("in-memory write");
    String::from_utf8(w.into_inner().expect("in-memory flush")).expect("ASCII header")
}

/// The columns of `records.csv`, in order.
pub const COLUMNS: [&str; 17] = [
    "run_id",
    "experiment",
    "backend",
    "engine",
    "variant",
    "config",
    "workload",
    "device",
    "concurrency",
    "iteration",
    "block",
    "phase",
    "metric",
    "value",
    "unit",
    "ok",
    "note",
];

fn format_row(record: &Record) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(160));
    w.serialize(record)?;
    Ok(w.into_inner()?)
}

/// Reads every record of a `records.csv`. A final row cut short by a crash is reported as an
/// error naming the line, never silently dropped or half-read.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, row) in reader.deserialize().enumerate() {
        let mut r: Record =
            row.with_context(|| format!("{}: bad row {}", path.display(), i + 2))?;
        r.fill_engine();
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(i: u32, value: f64) -> Record {
        Record {
            run_id: "r1".into(),
            experiment: "cold-start".into(),
            backend: "wasm".into(),
            engine: "wasmtime".into(),
            variant: "precompiled".into(),
            config: "default".into(),
            workload: "noop".into(),
            device: "host".into(),
            concurrency: 2,
            iteration: i,
            block: 0,
            phase: "cold_start".into(),
            metric: "latency".into(),
            value,
            unit: "us".into(),
            ok: true,
            note: String::new(),
        }
    }

    #[test]
    fn round_trip_including_awkward_text() {
        let dir = std::env::temp_dir().join(format!("wowrec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("records.csv");
        let _ = std::fs::remove_file(&path);
        let mut a = sample(0, 12.5);
        let mut b = sample(1, 1e9);
        b.ok = false;
        b.note = "container \"x\" died,\nexit 137".into();
        a.variant = "create-start".into();
        {
            let mut w = RecordWriter::open(&path).unwrap();
            w.append(&a).unwrap();
            w.checkpoint().unwrap();
        }
        {
            // Re-opening appends without a second header.
            let mut w = RecordWriter::open(&path).unwrap();
            w.append(&b).unwrap();
        }
        let back = read_records(&path).unwrap();
        assert_eq!(back, vec![a, b]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("run_id,experiment,backend,engine,variant,config,workload,device,concurrency,iteration,block,phase,metric,value,unit,ok,note\n"));
        assert_eq!(text.matches("run_id").count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A `records.csv` from before the `engine` column: its Wasm rows read as wasmtime's, its
    /// Docker rows as having no engine.
    #[test]
    fn records_without_an_engine_column_read_as_wasmtime() {
        let dir = std::env::temp_dir().join(format!("wowrec-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("records.csv");
        std::fs::write(
            &path,
            "run_id,experiment,backend,variant,config,workload,device,concurrency,iteration,phase,metric,value,unit,ok,note\n\
             r,cold-start,wasm,precompiled,default,noop,host,1,0,cold_start,latency,450,us,true,\n\
             r,cold-start,docker,create-start,default,noop,host,1,0,cold_start,latency,220000,us,true,\n",
        )
        .unwrap();
        let back = read_records(&path).unwrap();
        assert_eq!(back[0].engine, "wasmtime");
        assert_eq!(back[1].engine, "");
        assert_eq!(
            (back[0].block, back[1].block),
            (0, 0),
            "no block column: block 0"
        );
        assert_eq!(back[0].key().slug(), {
            let mut k = back[0].key();
            k.engine = String::new();
            k.slug()
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn torn_last_row_is_an_error_not_a_silent_drop() {
        let dir = std::env::temp_dir().join(format!("wowrec-torn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("records.csv");
        let _ = std::fs::remove_file(&path);
        let mut w = RecordWriter::open(&path).unwrap();
        w.append(&sample(0, 1.0)).unwrap();
        drop(w);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"r1,cold-start,wasm").unwrap();
        let err = read_records(&path).unwrap_err();
        assert!(format!("{err:#}").contains("bad row 3"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
