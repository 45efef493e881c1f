//! The actions' logs. One writer thread owns the proxy's stdout and stderr, so that a slow log
//! consumer (Docker's log driver) never blocks the request path's threads, while a bounded queue
//! still pushes back on a flood. Action lines carry their activation id, and every activation ends
//! with OpenWhisk's sentinel line on both streams, as OpenWhisk's runtimes do.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use wow_protocol::LOG_SENTINEL;

pub enum Entry {
    /// Bytes for the proxy's stdout.
    Stdout(Vec<u8>),
    /// Bytes for the proxy's stderr.
    Stderr(Vec<u8>),
    /// The end of an activation: its remaining logs, each stream followed by the sentinel.
    Activation { stdout: Vec<u8>, stderr: Vec<u8> },
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

static QUEUE: OnceLock<mpsc::Sender<Entry>> = OnceLock::new();

/// Starts the writer thread. Entries sent before this are dropped.
pub fn start() {
    let (tx, mut rx) = mpsc::channel::<Entry>(256);
    if QUEUE.set(tx).is_err() {
        return;
    }
    std::thread::Builder::new()
        .name("logs".into())
        .spawn(move || {
            while let Some(entry) = rx.blocking_recv() {
                // A closed stdout must not take the proxy down; the logs are lost either way.
                let _ = write(entry);
            }
        })
        .expect("start the log writer thread");
}

fn write(entry: Entry) -> std::io::Result<()> {
    let sentinel = format!("{LOG_SENTINEL}\n");
    match entry {
        Entry::Stdout(b) => write_to(&mut std::io::stdout().lock(), &[&b]),
        Entry::Stderr(b) => write_to(&mut std::io::stderr().lock(), &[&b]),
        Entry::Activation { stdout, stderr } => {
            let out = write_to(
                &mut std::io::stdout().lock(),
                &[&stdout, sentinel.as_bytes()],
            );
            let err = write_to(
                &mut std::io::stderr().lock(),
                &[&stderr, sentinel.as_bytes()],
            );
            out.and(err)
        }
        Entry::Flush(done) => {
            let _ = done.send(());
            Ok(())
        }
    }
}

fn write_to(w: &mut impl Write, parts: &[&[u8]]) -> std::io::Result<()> {
    for part in parts {
        w.write_all(part)?;
    }
    w.flush()
}

/// Queues an entry, waiting while the queue is full.
pub async fn send(entry: Entry) {
    if let Some(queue) = QUEUE.get() {
        let _ = queue.send(entry).await;
    }
}

/// Waits until everything queued so far is written, at most `limit`.
pub async fn flush(limit: Duration) {
    let (tx, rx) = oneshot::channel();
    let _ = tokio::time::timeout(limit, async {
        send(Entry::Flush(tx)).await;
        let _ = rx.await;
    })
    .await;
}

/// Splits a stream into lines, each prefixed with `[<activation id>] `. Keeps an unfinished last
/// line until more bytes or [`Lines::finish`] complete it.
#[derive(Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Appends the complete lines of `chunk` (with those held from earlier chunks), prefixed.
    pub fn feed(&mut self, id: &str, chunk: &[u8], out: &mut Vec<u8>) {
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            push_prefix(id, out);
            out.append(&mut self.partial);
            out.extend_from_slice(&rest[..=i]);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
    }

    /// Appends the unfinished line, if any, with a newline.
    pub fn finish(&mut self, id: &str, out: &mut Vec<u8>) {
        if !self.partial.is_empty() {
            push_prefix(id, out);
            out.append(&mut self.partial);
            out.push(b'\n');
        }
    }
}

fn push_prefix(id: &str, out: &mut Vec<u8>) {
    out.push(b'[');
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"] ");
}

/// All of `bytes` as prefixed lines.
pub fn prefixed(id: &str, bytes: &[u8]) -> Vec<u8> {
    let mut lines = Lines::default();
    let mut out = Vec::with_capacity(bytes.len() + 64);
    lines.feed(id, bytes, &mut out);
    lines.finish(id, &mut out);
    out
}

/// A diagnostic of the proxy about one activation, as a prefixed log line.
pub fn note(id: &str, text: &str) -> Vec<u8> {
    prefixed(id, format!("wow-proxy: {text}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prefixed_across_chunks() {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        lines.feed("a1", b"one\ntw", &mut out);
        lines.feed("a1", b"o\nthr", &mut out);
        lines.finish("a1", &mut out);
        assert_eq!(out, b"[a1] one\n[a1] two\n[a1] thr\n");
        assert_eq!(prefixed("x", b""), b"");
        assert_eq!(prefixed("x", b"\n"), b"[x] \n");
    }
}
