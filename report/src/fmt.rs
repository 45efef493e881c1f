//! Number formatting shared by the tables, the charts and the headline table. Every function is
//! deterministic; absent values are [`MISSING`], never zero.

/// What a table shows for a value that was not measured.
pub const MISSING: &str = "—";

const MIB: f64 = 1024.0 * 1024.0;

/// Three significant digits, no exponent: `312`, `31.2`, `3.12`, `0.312`.
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let a = x.abs();
    let decimals = if a >= 100.0 {
        0
    } else {
        (2 - a.log10().floor() as i32).clamp(0, 6) as usize
    };
    let s = format!("{x:.decimals$}");
    // Rounding can carry into the next power of ten (`99.96` → `100.0`): drop a decimal then.
    let carried = s
        .parse::<f64>()
        .is_ok_and(|r| decimals > 0 && r.abs() >= 10f64.powi(3 - decimals as i32));
    if carried {
        let d = decimals - 1;
        return format!("{x:.d$}");
    }
    s
}

/// A tick label: up to three significant digits with trailing zeros removed (`0.5`, `2`, `150`).
pub fn tick(x: f64) -> String {
    let s = sig3(x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A duration given in microseconds, in the unit that keeps it readable: `97 µs`, `2.11 ms`,
/// `1.23 s`.
pub fn duration_us(us: f64) -> String {
    if !us.is_finite() {
        return MISSING.to_string();
    }
    let a = us.abs();
    if a < 999.5 {
        format!("{} µs", sig3(us))
    } else if a < 999_500.0 {
        format!("{} ms", sig3(us / 1e3))
    } else {
        format!("{} s", sig3(us / 1e6))
    }
}

/// A duration tick label (microseconds in, unit-aware out, trailing zeros trimmed).
pub fn duration_tick_us(us: f64) -> String {
    let a = us.abs();
    if a == 0.0 {
        return "0".to_string();
    }
    if a < 999.5 {
        format!("{} µs", tick(us))
    } else if a < 999_500.0 {
        format!("{} ms", tick(us / 1e3))
    } else {
        format!("{} s", tick(us / 1e6))
    }
}

/// Bytes as MiB with three significant digits: `22.2 MiB`.
pub fn mib(bytes: f64) -> String {
    if !bytes.is_finite() {
        return MISSING.to_string();
    }
    format!("{} MiB", sig3(bytes / MIB))
}

/// Bytes → MiB (the unit of every memory chart).
pub fn to_mib(bytes: f64) -> f64 {
    bytes / MIB
}

/// A file size: `312 KiB`, `1.51 MiB`.
pub fn size(bytes: f64) -> String {
    if !bytes.is_finite() {
        return MISSING.to_string();
    }
    if bytes < 1024.0 * 999.5 {
        format!("{} KiB", sig3(bytes / 1024.0))
    } else {
        format!("{} MiB", sig3(bytes / MIB))
    }
}

/// A ratio: `3.52×`, `11.5×`, `0.21×`.
pub fn ratio(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_string();
    }
    if x.abs() >= 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.2}×")
    }
}

/// A relative change (`wasm / docker − 1`), signed with a true minus: `−99.4%`, `+12.0%`.
pub fn change(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_string();
    }
    let p = x * 100.0;
    if p < 0.0 {
        format!("−{:.1}%", -p)
    } else {
        format!("+{p:.1}%")
    }
}

/// A fraction as a percentage: `58.0%`.
pub fn percent(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_string();
    }
    format!("{:.1}%", x * 100.0)
}

/// An optional value through `f`, or [`MISSING`].
pub fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    match v {
        Some(x) if x.is_finite() => f(x),
        _ => MISSING.to_string(),
    }
}

/// `[low, high]` through `f`, or [`MISSING`] when either end is absent.
pub fn interval(lo: Option<f64>, hi: Option<f64>, f: impl Fn(f64) -> String) -> String {
    match (lo, hi) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => format!("[{}, {}]", f(a), f(b)),
        _ => MISSING.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(sig3(312.4), "312");
        assert_eq!(sig3(31.24), "31.2");
        assert_eq!(sig3(3.124), "3.12");
        assert_eq!(sig3(0.3124), "0.312");
        assert_eq!(sig3(99.96), "100");
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(f64::NAN), MISSING);
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(1000.0), "1000");
    }

    #[test]
    fn units() {
        assert_eq!(duration_us(97.1), "97.1 µs");
        assert_eq!(duration_us(2106.0), "2.11 ms");
        assert_eq!(duration_us(331_000.0), "331 ms");
        assert_eq!(duration_us(1_100_000.0), "1.10 s");
        assert_eq!(duration_tick_us(100_000.0), "100 ms");
        assert_eq!(duration_tick_us(1_000_000.0), "1 s");
        assert_eq!(mib(3_145_728.0), "3.00 MiB");
        assert_eq!(size(319_488.0), "312 KiB");
        assert_eq!(size(1_583_348.0), "1.51 MiB");
        assert_eq!(ratio(3.5), "3.50×");
        assert_eq!(ratio(11.5), "11.5×");
        assert_eq!(change(-0.99364), "−99.4%");
        assert_eq!(percent(0.6), "60.0%");
        assert_eq!(opt(None, sig3), MISSING);
    }
}
