//! Where a request's time goes inside the executor, step by step: the breakdown of a cold start
//! and of a warm run that the harness's `ladder` experiment records.
//!
//! A client that sends [`REQUEST_HEADER`] gets its request's steps back in a standard
//! `Server-Timing` header (durations in milliseconds, to the microsecond), ending with `total`,
//! the time from the handler's start to the response built. Other requests pay only the clock
//! reads. The steps are the same whether or not they are reported.

use std::time::{Duration, Instant};

/// The request header that asks for the `Server-Timing` answer (any value).
pub const REQUEST_HEADER: &str = "x-wow-trace-timing";

/// The step of the answer that covers the whole handler.
pub const TOTAL: &str = "total";

/// The steps of one request, each the time since the previous mark.
#[derive(Debug)]
pub struct Steps {
    start: Instant,
    last: Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl Default for Steps {
    fn default() -> Self {
        Steps::start()
    }
}

impl Steps {
    pub fn start() -> Steps {
        let now = Instant::now();
        Steps {
            start: now,
            last: now,
            steps: Vec::with_capacity(12),
        }
    }

    /// Ends step `name` now: it took the time since the previous mark. A name marked twice
    /// adds up.
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        let d = now - self.last;
        self.last = now;
        match self.steps.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t += d,
            None => self.steps.push((name, d)),
        }
    }

    /// Adds `d` to step `name` without moving the mark: a part measured inside another step
    /// (which is then reported without it).
    pub fn split(&mut self, inside: &'static str, name: &'static str, d: Duration) {
        if let Some((_, t)) = self.steps.iter_mut().find(|(n, _)| *n == inside) {
            let d = d.min(*t);
            *t -= d;
            self.steps.push((name, d));
        }
    }

    pub fn steps(&self) -> &[(&'static str, Duration)] {
        &self.steps
    }

    /// The `Server-Timing` value: every step, then `total`.
    pub fn header(&self) -> String {
        let total = self.last - self.start;
        let mut out = String::with_capacity(24 * (self.steps.len() + 1));
        for (name, d) in self.steps.iter().chain([&(TOTAL, total)]) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(&format!("{name};dur={:.3}", d.as_nanos() as f64 / 1e6));
        }
        out
    }
}

/// The steps of a `Server-Timing` value, in order (malformed entries are skipped).
pub fn parse(header: &str) -> Vec<(String, Duration)> {
    header
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.trim().split(';');
            let name = parts.next()?.trim();
            let ms: f64 = parts
                .find_map(|p| p.trim().strip_prefix("dur="))?
                .parse()
                .ok()?;
            (!name.is_empty() && ms.is_finite() && ms >= 0.0).then(|| {
                (
                    name.to_string(),
                    Duration::from_nanos((ms * 1e6).round() as u64),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_round_trips_and_ends_with_the_total() {
        let mut s = Steps::start();
        std::thread::sleep(Duration::from_millis(2));
        s.mark("read");
        s.mark("parse");
        std::thread::sleep(Duration::from_millis(1));
        s.mark("read");
        let parsed = parse(&s.header());
        let names: Vec<&str> = parsed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["read", "parse", TOTAL]);
        assert!(parsed[0].1 >= Duration::from_millis(3), "{parsed:?}");
        let sum: Duration = parsed[..2].iter().map(|(_, d)| *d).sum();
        // Each value is rounded to the microsecond.
        assert!(
            parsed[2].1.abs_diff(sum) <= Duration::from_micros(2),
            "{parsed:?}"
        );
    }

    #[test]
    fn a_split_moves_time_out_of_its_step() {
        let mut s = Steps::start();
        std::thread::sleep(Duration::from_millis(2));
        s.mark("guest");
        let before = s.steps()[0].1;
        s.split("guest", "wasi", Duration::from_millis(1));
        assert_eq!(s.steps()[0].1 + s.steps()[1].1, before);
        assert_eq!(s.steps()[1], ("wasi", Duration::from_millis(1)));
    }

    #[test]
    fn malformed_entries_are_skipped() {
        let p = parse("a;dur=0.010, b;desc=x, ;dur=1, c;dur=-1, d;dur=nan, e ; dur=1.5");
        assert_eq!(
            p,
            [
                ("a".to_string(), Duration::from_micros(10)),
                ("e".to_string(), Duration::from_micros(1500))
            ]
        );
    }
}
