//! An experiment's progress: a bar on a terminal. Where stderr is not a terminal (CI, a pipe,
//! a log file) the bar draws nothing, so the progress is written as lines instead: one when the
//! experiment moves to another series or level, one at most every ten seconds in between, and
//! one at its end — what runs, how far it is, and for how long.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

/// The shortest time between two lines of the same step.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// An experiment's progress bar, or its progress lines.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    lines: Option<Arc<Lines>>,
}

struct Lines {
    label: String,
    started: Instant,
    /// The current step's message and when a line was last written.
    state: Mutex<(String, Instant)>,
}

/// Whether progress is written as lines: not asked to be quiet, and stderr is no terminal.
pub fn as_lines(quiet: bool) -> bool {
    !quiet && !std::io::stderr().is_terminal()
}

impl Progress {
    pub fn new(bar: ProgressBar, label: &str, lines: bool) -> Progress {
        let now = Instant::now();
        let lines = lines.then(|| {
            Arc::new(Lines {
                label: label.to_string(),
                started: now,
                state: Mutex::new((String::new(), now)),
            })
        });
        Progress { bar, lines }
    }

    /// The current step (a series, a level): a line when it changes.
    pub fn set_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        self.bar.set_message(msg.clone());
        if let Some(l) = &self.lines {
            let mut state = l.state.lock().unwrap();
            if state.0 != msg {
                *state = (msg, Instant::now());
                l.write(&state.0, &self.bar);
            }
        }
    }

    /// `n` measurements done: a line if the last one is ten seconds old.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.tick();
    }

    /// At step `pos`: a line if the last one is ten seconds old.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        self.tick();
    }

    fn tick(&self) {
        if let Some(l) = &self.lines {
            let mut state = l.state.lock().unwrap();
            if state.1.elapsed() >= LINE_EVERY {
                state.1 = Instant::now();
                l.write(&state.0, &self.bar);
            }
        }
    }

    /// The experiment's end: a last line.
    pub fn finish_with_message(&self, msg: &'static str) {
        self.bar.finish_with_message(msg);
        if let Some(l) = &self.lines {
            l.write(msg, &self.bar);
        }
    }

    /// The experiment's end, its bar removed from the screen (a last line all the same).
    pub fn finish_and_clear(&self) {
        if let Some(l) = &self.lines {
            l.write("done", &self.bar);
        }
        self.bar.finish_and_clear();
    }
}

impl Lines {
    fn write(&self, msg: &str, bar: &ProgressBar) {
        eprintln!("{}", self.line(msg, bar.position(), bar.length()));
    }

    fn line(&self, msg: &str, pos: u64, len: Option<u64>) -> String {
        let len = len.map(|l| l.to_string()).unwrap_or_else(|| "?".into());
        format!(
            "{}: {msg} — {pos}/{len}, {:.1} s",
            self.label,
            self.started.elapsed().as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_what_how_far_and_for_how_long() {
        let p = Progress::new(ProgressBar::hidden(), "cold-start", true);
        let l = p.lines.as_ref().unwrap();
        let line = l.line("wasm precompiled c4", 12, Some(40));
        assert!(
            line.starts_with("cold-start: wasm precompiled c4 — 12/40, "),
            "{line}"
        );
        assert!(line.ends_with(" s"), "{line}");
    }

    #[test]
    fn a_bar_alone_keeps_no_line_state() {
        let p = Progress::new(ProgressBar::hidden(), "memory", false);
        assert!(p.lines.is_none());
        p.set_message("wasm shared");
        p.inc(1);
        assert_eq!(p.bar.position(), 1);
    }
}
