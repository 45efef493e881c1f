//! Numbers and values as every output format writes them: scaled to their unit, signed
//! percentages, few decimals.

use wow_records::vocab::Unit;

/// A number with at most three significant decimals, no trailing zeros.
pub fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A value in its unit, scaled for reading (µs → ms → s, bytes → KiB → MiB → GiB).
pub fn value(v: f64, unit: &str) -> String {
    match unit.parse::<Unit>() {
        Ok(Unit::Micros) => {
            let a = v.abs();
            if a >= 1e6 {
                format!("{:.3} s", v / 1e6)
            } else if a >= 1e3 {
                format!("{:.2} ms", v / 1e3)
            } else {
                format!("{v:.1} µs")
            }
        }
        Ok(Unit::Bytes) => {
            let a = v.abs();
            if a >= (1u64 << 30) as f64 {
                format!("{:.2} GiB", v / (1u64 << 30) as f64)
            } else if a >= (1 << 20) as f64 {
                format!("{:.2} MiB", v / (1 << 20) as f64)
            } else if a >= 1024.0 {
                format!("{:.1} KiB", v / 1024.0)
            } else {
                format!("{v:.0} B")
            }
        }
        Ok(Unit::Rps) => format!("{v:.1} {unit}"),
        Ok(Unit::Count) => number(v),
        Ok(Unit::Ratio) => format!("{v:.3}"),
        Ok(Unit::Seconds) | Err(_) => format!("{} {unit}", number(v)),
    }
}

/// A value with its sign: `+1.50 ms`.
pub fn signed_value(v: f64, unit: &str) -> String {
    let s = value(v, unit);
    if v > 0.0 { format!("+{s}") } else { s }
}

/// A signed percentage with one decimal; `0.0%` for anything that rounds to it.
pub fn pct(v: f64) -> String {
    if v.abs() < 0.05 {
        "0.0%".to_string()
    } else {
        format!("{v:+.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_well() {
        assert_eq!(value(1_500.0, Unit::Micros.as_str()), "1.50 ms");
        assert_eq!(value(2_500_000.0, Unit::Micros.as_str()), "2.500 s");
        assert_eq!(value(12.34, Unit::Micros.as_str()), "12.3 µs");
        assert_eq!(value(3.0 * 1048576.0, Unit::Bytes.as_str()), "3.00 MiB");
        assert_eq!(value(7.0, Unit::Count.as_str()), "7");
        assert_eq!(value(2.0, "widgets"), "2 widgets");
        assert_eq!(signed_value(1_500.0, Unit::Micros.as_str()), "+1.50 ms");
        assert_eq!(signed_value(-2048.0, Unit::Bytes.as_str()), "-2.0 KiB");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(1.0 / 3.0), "0.333");
        assert_eq!(pct(30.04), "+30.0%");
        assert_eq!(pct(-0.01), "0.0%");
    }
}
