//! Full latency histograms beside the CSV, one file per group, so nothing is lost to
//! pre-computed percentiles. Files use HdrHistogram's standard interval-log format (`.hlog`,
//! V2-compressed), which HdrHistogram's own tools (e.g. HistogramLogAnalyzer) read.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogHistogram, IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

/// A latency histogram in microseconds: 1 µs to 1 hour, 3 significant digits.
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// Writes one histogram as a single-interval `.hlog` file (write-then-rename).
pub fn write_hlog(path: &Path, hist: &Histogram<u64>, tag: &str) -> Result<()> {
    let mut buf = Vec::new();
    {
        let mut ser = V2DeflateSerializer::new();
        let mut w = IntervalLogWriterBuilder::new()
            .with_base_time(SystemTime::UNIX_EPOCH)
            .with_max_value_divisor(1.0)
            .begin_log_with(&mut buf, &mut ser)
            .map_err(|e| anyhow!("hlog header: {e:?}"))?;
        w.write_comment("wowbench latency histogram, microseconds")
            .map_err(|e| anyhow!("hlog comment: {e:?}"))?;
        let tag = hdrhistogram::serialization::interval_log::Tag::new(tag)
            .ok_or_else(|| anyhow!("invalid hlog tag {tag:?}"))?;
        w.write_histogram(hist, Duration::ZERO, Duration::ZERO, Some(tag))
            .map_err(|e| anyhow!("hlog write: {e:?}"))?;
    }
    let tmp = path.with_extension("hlog.tmp");
    std::fs::write(&tmp, &buf).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads the first histogram of an `.hlog` file.
pub fn read_hlog(path: &Path) -> Result<Histogram<u64>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| anyhow!("{}: {e:?}", path.display()))?;
        if let LogEntry::Interval(h) = entry {
            return decode(&h).with_context(|| format!("{}", path.display()));
        }
    }
    Err(anyhow!("{}: no histogram in file", path.display()))
}

fn decode(h: &IntervalLogHistogram) -> Result<Histogram<u64>> {
    let raw = base64_decode(h.encoded_histogram())?;
    let mut de = Deserializer::new();
    de.deserialize(&mut raw.as_slice())
        .map_err(|e| anyhow!("bad histogram: {e:?}"))
}

fn base64_decode(s: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| anyhow!("bad base64 in hlog: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hlog_round_trip() {
        let mut h = new_latency_histogram();
        for v in [10u64, 20, 20, 30, 1_000_000] {
            h.record(v).unwrap();
        }
        let dir = std::env::temp_dir().join(format!("wowhist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("g.hlog");
        write_hlog(&p, &h, "throughput__wasm").unwrap();
        let back = read_hlog(&p).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert_eq!(back.max(), h.max());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
