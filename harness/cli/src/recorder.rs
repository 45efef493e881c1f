//! What experiments write through: the run's `records.csv` (whole rows, as they are measured),
//! its histograms, progress bars, and the cancellation flag Ctrl-C raises.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::progress::Progress;
use anyhow::Result;
use hdrhistogram::Histogram;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use wow_records::{
    Backend, Config, Engine, Experiment, GroupKey, Measure, Record, RecordWriter, RunDir,
};

/// Raised once (Ctrl-C, a fatal error); long waits race it.
#[derive(Clone, Default)]
pub struct Cancel(Arc<(AtomicBool, tokio::sync::Notify)>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.0.store(true, Ordering::SeqCst);
        self.0.1.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.0.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// An error to bail out with when cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            anyhow::bail!(Interrupted);
        }
        Ok(())
    }

    /// Sleeps, or returns early with an error when cancelled.
    pub async fn sleep(&self, d: Duration) -> Result<()> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.cancelled() => Err(Interrupted.into()),
        }
    }
}

/// The error of an interrupted run.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// The identity of a measured series; rows add the x value, repetition and [`Measure`].
#[derive(Debug, Clone)]
pub struct SeriesKey {
    pub experiment: Experiment,
    pub backend: Backend,
    /// A [`wow_records::Series`] name, or a module-size series (`module-<build>`).
    pub variant: String,
    pub config: Config,
    pub workload: String,
}

impl SeriesKey {
    pub fn new(
        experiment: Experiment,
        backend: Backend,
        variant: &str,
        config: Config,
        workload: &str,
    ) -> SeriesKey {
        SeriesKey {
            experiment,
            backend,
            variant: variant.into(),
            config,
            workload: workload.into(),
        }
    }

    /// The group of a measurement at `concurrency` on `device`; `engine` names the Wasm
    /// engine of a Wasm series (other rows have none).
    pub fn key(&self, device: &str, engine: Engine, concurrency: u32, m: Measure) -> GroupKey {
        GroupKey {
            experiment: self.experiment.into(),
            backend: self.backend.into(),
            engine: if self.backend == Backend::Wasm {
                engine.as_str().to_string()
            } else {
                String::new()
            },
            variant: self.variant.clone(),
            config: self.config.into(),
            workload: self.workload.clone(),
            device: device.to_string(),
            concurrency,
            phase: m.phase.to_string(),
            metric: m.metric.into(),
            unit: m.unit().into(),
        }
    }
}

pub struct Recorder {
    pub run_id: String,
    pub device: String,
    pub dir: RunDir,
    writer: Mutex<RecordWriter>,
    pub progress: MultiProgress,
    pub cancel: Cancel,
    quiet: bool,
    /// The Wasm engine of the executor(s) the current pass runs (one engine per pass).
    engine: Mutex<Engine>,
    /// The block being measured (a paired run's, or a pass repeated for precision; 0
    /// otherwise): written on every row.
    block: std::sync::atomic::AtomicU32,
}

impl Recorder {
    /// The engine Wasm rows are recorded under from now on.
    pub fn set_engine(&self, engine: Engine) {
        *self.engine.lock().unwrap() = engine;
    }

    /// The engine of the current pass.
    pub fn engine(&self) -> Engine {
        *self.engine.lock().unwrap()
    }

    /// Starts block `b` (of a paired run, or a pass for precision): the rows from here on carry
    /// it.
    pub fn set_block(&self, b: u32) {
        self.block.store(b, std::sync::atomic::Ordering::Relaxed);
    }

    /// The group of a measurement of series `s` in this run, under the current engine.
    pub fn key(&self, s: &SeriesKey, concurrency: u32, m: Measure) -> GroupKey {
        s.key(&self.device, self.engine(), concurrency, m)
    }

    pub fn new(
        run_id: &str,
        device: &str,
        dir: RunDir,
        cancel: Cancel,
        quiet: bool,
    ) -> Result<Recorder> {
        let writer = RecordWriter::open(&dir.records_path())?;
        let progress = if quiet {
            MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
        } else {
            MultiProgress::new()
        };
        Ok(Recorder {
            run_id: run_id.to_string(),
            device: device.to_string(),
            dir,
            writer: Mutex::new(writer),
            progress,
            cancel,
            quiet,
            engine: Mutex::new(Engine::REFERENCE),
            block: Default::default(),
        })
    }

    /// A recorder for another run folder written at the same time (the baseline side of a
    /// paired run): same device, cancellation and display.
    pub fn beside(&self, run_id: &str, dir: RunDir) -> Result<Recorder> {
        let mut r = Recorder::new(run_id, &self.device, dir, self.cancel.clone(), self.quiet)?;
        r.progress = self.progress.clone();
        Ok(r)
    }

    /// One successful measurement.
    pub fn put(
        &self,
        s: &SeriesKey,
        concurrency: u32,
        iteration: u32,
        m: Measure,
        value: f64,
    ) -> Result<()> {
        self.write(s, concurrency, iteration, m, Ok(value))
    }

    /// A latency in microseconds.
    pub fn latency(
        &self,
        s: &SeriesKey,
        concurrency: u32,
        iteration: u32,
        phase: &str,
        d: Duration,
    ) -> Result<()> {
        let m = Measure::latency(phase);
        self.put(s, concurrency, iteration, m, d.as_secs_f64() * 1e6)
    }

    /// A measurement that failed: kept as a row with `ok = false` and the reason.
    pub fn fail(
        &self,
        s: &SeriesKey,
        concurrency: u32,
        iteration: u32,
        m: Measure,
        note: &str,
    ) -> Result<()> {
        self.write(s, concurrency, iteration, m, Err(note.to_string()))
    }

    /// Appends one row: the value, or the reason it is missing.
    /// A measurement with a note on it (what ended a capacity search, say).
    pub fn put_noted(
        &self,
        s: &SeriesKey,
        concurrency: u32,
        iteration: u32,
        m: Measure,
        value: f64,
        note: &str,
    ) -> Result<()> {
        self.write_row(
            s,
            concurrency,
            iteration,
            m,
            (value, true, note.to_string()),
        )
    }

    fn write(
        &self,
        s: &SeriesKey,
        concurrency: u32,
        iteration: u32,
        m: Measure,
        value: Result<f64, String>,
    ) -> Result<()> {
        let row = match value {
            Ok(v) => (v, true, String::new()),
            Err(note) => (f64::NAN, false, note),
        };
        self.write_row(s, concurrency, iteration, m, row)
    }

    fn write_row(
        &self,
        s: &SeriesKey,
        concurrency: u32,
        iteration: u32,
        m: Measure,
        (value, ok, note): (f64, bool, String),
    ) -> Result<()> {
        let key = self.key(s, concurrency, m);
        let r = Record {
            run_id: self.run_id.clone(),
            experiment: key.experiment,
            backend: key.backend,
            engine: key.engine,
            variant: key.variant,
            config: key.config,
            workload: key.workload,
            device: key.device,
            concurrency,
            iteration,
            block: self.block.load(std::sync::atomic::Ordering::Relaxed),
            phase: key.phase,
            metric: key.metric,
            value,
            unit: key.unit,
            ok,
            note,
        };
        self.writer.lock().unwrap().append(&r)
    }

    /// Forces the records to disk (experiment boundaries).
    pub fn checkpoint(&self) -> Result<()> {
        self.writer.lock().unwrap().checkpoint()
    }

    /// Saves a group's full latency histogram beside the CSV.
    pub fn histogram(&self, key: &GroupKey, h: &Histogram<u64>) -> Result<()> {
        let path = self
            .dir
            .histograms_dir()
            .join(format!("{}.hlog", key.slug()));
        wow_records::histogram::write_hlog(&path, h, &key.slug())
    }

    /// A progress bar for `len` steps under the run's display (lines where stderr is not a
    /// terminal: [`crate::progress`]).
    pub fn bar(&self, len: u64, label: &str) -> Progress {
        let pb = self.progress.add(ProgressBar::new(len));
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix:>12.bold} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        pb.set_prefix(label.to_string());
        Progress::new(pb, label, crate::progress::as_lines(self.quiet))
    }

    /// A line above the progress bars (or on stderr when quiet).
    pub fn note(&self, msg: &str) {
        if self.quiet {
            eprintln!("{msg}");
        } else {
            let _ = self.progress.println(msg);
        }
    }
}
