//! The edge device as the run had it (`meta.json`'s `device` and `calibration.device_cpu`):
//! which Docker engine ran, what was sampled inside the device's limits and what was not, each
//! backend's peak memory and OOM kills, and the CPU's reference steps beside the paper's
//! Pi-versus-server ratio — with what the emulation cannot do, read off the same numbers.

use std::fmt::Write as _;

use serde_json::Value;
use wow_records::Meta;

use crate::fmt;
use crate::table::Table;

/// The device section of a run folder, empty for a run on the system engine without limits.
pub fn device_section(out: &mut String, m: &Meta) {
    let d = &m.device;
    let kind = d.pointer("/docker_engine/kind").and_then(Value::as_str);
    if kind == Some("dedicated") {
        out.push_str(
            "Docker ran on an engine of the run's own (dockerd with its containerd, the shims, \
             docker-proxy and fuse-overlayfs), started inside the device's cgroup and removed \
             after the run; the system engine only lent its images.\n\n",
        );
    }
    if let Some(inside) = d.get("inside_limits").and_then(Value::as_object) {
        let samples = d.get("samples").and_then(Value::as_u64).unwrap_or(0);
        let _ = writeln!(
            out,
            "Processes seen inside the device's limits ({samples} samples, four a second):\n"
        );
        for (part, names) in inside {
            let names: Vec<String> = names
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|n| format!("`{n}`"))
                .collect();
            let _ = writeln!(
                out,
                "- {part}: {}",
                if names.is_empty() {
                    "none seen".to_string()
                } else {
                    names.join(", ")
                }
            );
        }
        let outside: Vec<&str> = d
            .get("outside_limits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if kind == Some("dedicated") {
            let _ = writeln!(
                out,
                "- outside: {}",
                if outside.is_empty() {
                    "no process of the engine's stack (found from the process tree, not the \
                     cgroups)"
                        .to_string()
                } else {
                    format!("**{}**", outside.join(", "))
                }
            );
        }
        out.push('\n');
    }
    if let Some(mem) = d.get("memory").and_then(Value::as_object) {
        let limit = d.pointer("/profile/memory_bytes").and_then(Value::as_f64);
        let parts: Vec<String> = mem
            .iter()
            .map(|(part, v)| {
                let peak = v.get("peak_bytes").and_then(Value::as_f64);
                let ooms = v.get("oom_kills").and_then(Value::as_u64).unwrap_or(0);
                format!(
                    "{part} {} peak{}",
                    fmt::opt(peak, fmt::mib),
                    if ooms > 0 {
                        format!(", **{ooms} OOM kill(s)**")
                    } else {
                        ", no OOM kill".to_string()
                    }
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "Memory of each backend's part, everything it ran included (page cache too){}: {}.\n",
            limit
                .map(|l| format!(" (limit {} each, no swap)", fmt::mib(l)))
                .unwrap_or_default(),
            parts.join("; ")
        );
    }
    if let Some(cal) = m.calibration.get("device_cpu") {
        calibration(out, cal);
    }
}

/// The reference steps table and what it says about the emulation.
fn calibration(out: &mut String, cal: &Value) {
    let steps = cal.get("steps").and_then(Value::as_array);
    let mut t = Table::new(&["reference step", "host", "device", "slowdown"]);
    let mut sub_ms = None;
    for s in steps.into_iter().flatten() {
        let name = s.get("step").and_then(Value::as_str).unwrap_or("?");
        let host = s.get("host_ms").and_then(Value::as_f64);
        let device = s.get("device_ms").and_then(Value::as_f64);
        let slowdown = s.get("slowdown").and_then(Value::as_f64);
        if host.is_some_and(|h| h < 1.0) {
            sub_ms = slowdown.map(|x| (name.to_string(), x));
        }
        t.row(vec![
            name.to_string(),
            fmt::opt(host.map(|x| x * 1e3), fmt::duration_us),
            fmt::opt(device.map(|x| x * 1e3), fmt::duration_us),
            fmt::opt(slowdown, |x| format!("{}×", fmt::sig3(x))),
        ]);
    }
    let limit = cal
        .get("cpu_limit")
        .filter(|v| !v.is_null())
        .map(|v| {
            format!(
                "a CFS quota of {} µs per {} µs period",
                v.get("quota_us").and_then(Value::as_u64).unwrap_or(0),
                v.get("period_us").and_then(Value::as_u64).unwrap_or(0)
            )
        })
        .unwrap_or_else(|| "the profile's CPU quota".into());
    let paper = cal
        .pointer("/paper_slowdown/ratio")
        .and_then(Value::as_array)
        .map(|r| {
            let lo = r.first().and_then(Value::as_f64).unwrap_or(f64::NAN);
            let hi = r.get(1).and_then(Value::as_f64).unwrap_or(f64::NAN);
            format!(
                "The paper's Pi ran the executor's init {}–{}× slower than its server (wasmtime \
                 124–184 vs 8.5–10.1 ms, WAMR 112–142 vs 5.6–7.3, wasmer 246–316 vs 17.4–20.8). ",
                fmt::sig3(lo),
                fmt::sig3(hi)
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "The device's CPU against the paper's Pi ({limit}; {}):\n",
        cal.get("method")
            .and_then(Value::as_str)
            .unwrap_or("method not recorded")
    );
    out.push_str(&t.render());
    out.push('\n');
    out.push_str(&paper);
    if let Some((name, x)) = sub_ms {
        let _ = write!(
            out,
            "A step shorter than the quota runs at nearly the host's speed ({name}: {}×): the \
             kernel grants no quota under 1 ms, so the emulation slows long steps as a Pi would \
             but not sub-millisecond ones, which favours the side whose cold start is that short \
             (Wasm with a precompiled artifact). ",
            fmt::sig3(x)
        );
    }
    out.push_str(
        "All processes of a backend share one quota, where a Pi has four slow cores: work that a \
         Pi would spread over its cores (Cranelift's parallel compile, Docker's daemons working \
         at once, concurrent cold starts) is slowed more than a Pi would slow it, on both sides.\n\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(device: Value, calibration: Value) -> Meta {
        let mut m: Value =
            serde_json::from_str(include_str!("../tests/fixtures/run-small/meta.json")).unwrap();
        m["device"] = device;
        m["calibration"] = calibration;
        serde_json::from_value(m).unwrap()
    }

    #[test]
    fn a_dedicated_engine_shows_what_was_inside_outside_and_the_calibration() {
        let m = meta(
            serde_json::json!({
                "profile": {"name": "pi3", "memory_bytes": 1073741824u64},
                "docker_engine": {"kind": "dedicated"},
                "inside_limits": {"docker": ["containerd", "dockerd"], "wasm": []},
                "outside_limits": ["containerd-shim (42)"],
                "samples": 9,
                "memory": {"docker": {"peak_bytes": 104857600u64, "oom_kills": 2}},
            }),
            serde_json::json!({"device_cpu": {
                "method": "m",
                "cpu_limit": {"quota_us": 1000, "period_us": 17000},
                "steps": [
                    {"step": "native hash", "host_ms": 20.0, "device_ms": 340.0, "slowdown": 17.0},
                    {"step": "load", "host_ms": 0.5, "device_ms": 0.6, "slowdown": 1.2},
                ],
                "paper_slowdown": {"ratio": [14.7, 19.7]},
            }}),
        );
        let mut out = String::new();
        device_section(&mut out, &m);
        assert!(out.contains("- docker: `containerd`, `dockerd`"), "{out}");
        assert!(out.contains("- wasm: none seen"), "{out}");
        assert!(out.contains("**containerd-shim (42)**"), "{out}");
        assert!(out.contains("**2 OOM kill(s)**"), "{out}");
        assert!(out.contains("1000 µs per 17000 µs"), "{out}");
        assert!(
            out.contains("| native hash | 20.0 ms | 340 ms | 17.0× |"),
            "{out}"
        );
        assert!(out.contains("14.7–19.7×"), "{out}");
        assert!(out.contains("(load: 1.20×)"), "{out}");
    }

    #[test]
    fn a_run_on_the_system_engine_without_limits_adds_nothing() {
        let m = meta(
            serde_json::json!({"profile": {"name": "host"}, "docker_engine": {"kind": "system"}}),
            Value::Null,
        );
        let mut out = String::new();
        device_section(&mut out, &m);
        assert_eq!(out, "");
    }
}
