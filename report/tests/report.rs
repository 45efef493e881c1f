//! The report on a hand-made run folder (tests/fixtures/run-small): tables equal the CSV,
//! missing data reads as missing, one chart pair per present experiment and none for the absent
//! one, byte-identical regeneration, and the headline values equal hand-computed ones.

mod common;

use std::path::Path;

use wow_records::{RunDir, SummaryRow};
use wow_report::fmt;
use wow_report::headline::headlines;

fn summary() -> Vec<SummaryRow> {
    RunDir::open(&common::fixture()).unwrap().summary().unwrap()
}

/// The Markdown section of an experiment: from its `## … (`id`)` heading to the next `## `.
fn section<'a>(md: &'a str, id: &str) -> &'a str {
    let start = md
        .find(&format!("(`{id}`)\n"))
        .unwrap_or_else(|| panic!("no section for {id}"));
    let rest = &md[start..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// Table rows (cells trimmed) of a Markdown fragment.
fn rows(md: &str) -> Vec<Vec<String>> {
    md.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn fixture_summary_is_the_records_crate_summary_of_its_records() {
    let dir = RunDir::open(&common::fixture()).unwrap();
    let derived = wow_records::summary::summarise(&dir.records().unwrap());
    if std::env::var_os("WOW_REPORT_BLESS").is_some() {
        wow_records::summary::write_summary(&dir.summary_path(), &derived).unwrap();
    }
    assert_eq!(
        wow_records::summary::read_summary(&dir.summary_path()).unwrap(),
        derived,
        "summary.csv is stale: rerun with WOW_REPORT_BLESS=1"
    );
}

#[test]
fn cold_start_table_numbers_equal_the_csv() {
    let run = common::fixture_copy("tables");
    let s = wow_report::generate(&run).unwrap();
    let md = std::fs::read_to_string(&s.report_md).unwrap();
    let cold = section(&md, "cold-start");
    let table = rows(cold);
    let mut checked = 0;
    for r in summary()
        .iter()
        .filter(|r| r.experiment == "cold-start" && r.phase == "cold_start")
    {
        let label = format!("{} {}", r.backend, r.variant);
        let row = table
            .iter()
            .find(|c| c[0] == label && c[1] == r.concurrency.to_string())
            .unwrap_or_else(|| panic!("no row for {label} at {}", r.concurrency));
        assert_eq!(row[2], r.n.to_string());
        assert_eq!(row[3], r.failed.to_string());
        assert_eq!(row[4], fmt::opt(r.median, fmt::duration_us));
        checked += 1;
    }
    assert_eq!(checked, 4);
    // The same numbers, by hand: medians of 2005/2106/2307 µs and 430/450/470 ms (one failed).
    assert!(
        cold.contains("| wasm precompiled | 1 | 3 | 0 | 2.11 ms |"),
        "{cold}"
    );
    assert!(
        cold.contains("| wasm precompiled | 2 | 4 | 0 | 2.71 ms |"),
        "{cold}"
    );
    assert!(
        cold.contains("| docker create-start | 1 | 3 | 0 | 331 ms |"),
        "{cold}"
    );
    assert!(
        cold.contains("| docker create-start | 2 | 3 | 1 | 450 ms |"),
        "{cold}"
    );
    common::cleanup(&run);
}

#[test]
fn other_tables_equal_the_csv() {
    let run = common::fixture_copy("tables2");
    let s = wow_report::generate(&run).unwrap();
    let md = std::fs::read_to_string(&s.report_md).unwrap();
    let sum = summary();
    let med = |exp: &str,
               workload: &str,
               backend: &str,
               variant: &str,
               c: u32,
               phase: &str,
               metric: &str| {
        sum.iter()
            .find(|r| {
                r.experiment == exp
                    && r.workload == workload
                    && r.backend == backend
                    && r.variant == variant
                    && r.concurrency == c
                    && r.phase == phase
                    && r.metric == metric
            })
            .and_then(|r| r.median)
            .unwrap()
    };
    // Memory: per-sandbox medians by both methods.
    let mem = rows(section(&md, "memory"));
    let row = mem
        .iter()
        .find(|c| c[0] == "wasm distinct" && c[1] == "4")
        .unwrap();
    assert_eq!(
        row[4],
        fmt::mib(med(
            "memory",
            "hash",
            "wasm",
            "distinct",
            4,
            "paper",
            "memory_per_sandbox"
        ))
    );
    assert_eq!(row[4], "3.00 MiB");
    assert_eq!(row[6], "0.500 MiB");
    // n = 1: no confidence interval, shown as missing rather than as a zero-width interval.
    assert_eq!(row[5], "—");
    // Throughput.
    let tp = rows(section(&md, "throughput"));
    let row = tp
        .iter()
        .find(|c| c[0] == "paper" && c[1] == "mixed" && c[2] == "wasm precompiled" && c[3] == "4")
        .unwrap();
    assert_eq!(
        row[5],
        fmt::sig3(med(
            "throughput",
            "mixed",
            "wasm",
            "precompiled",
            4,
            "warm",
            "throughput"
        ))
    );
    assert_eq!(row[5], "20.0");
    assert_eq!(row[7], "190 ms");
    assert_eq!(row[10], "2");
    // Realistic: the run's percentiles and cold-start fraction.
    let re = rows(section(&md, "realistic"));
    let row = re.iter().find(|c| c[0] == "docker create-start").unwrap();
    assert_eq!(row[2], "10");
    assert_eq!(row[4], "60.0%");
    assert_eq!(row[5], "600 ms");
    assert_eq!(row[7], "1.10 s");
    // Ladder.
    let la = rows(section(&md, "ladder"));
    let row = la
        .iter()
        .find(|c| c[0] == "wasm" && c[3] == "compile")
        .unwrap();
    assert_eq!(row[6], "98.0 ms");
    common::cleanup(&run);
}

#[test]
fn missing_data_reads_as_missing_never_zero() {
    let run = common::fixture_copy("missing");
    let s = wow_report::generate(&run).unwrap();
    let md = std::fs::read_to_string(&s.report_md).unwrap();
    // The run is flagged incomplete, with its reason and what was not done.
    assert!(md.contains("**This run is incomplete** (fixture-small): interrupted (Ctrl-C) during capacity. Not done: `capacity`"), "{md}");
    // The absent experiment says so and has neither a chart nor a table.
    let cap = section(&md, "capacity");
    assert!(
        cap.contains("*Not run: this run folder has no `capacity` measurements"),
        "{cap}"
    );
    assert!(!cap.contains("!["), "{cap}");
    // Its headline, the compile-series cold start and the fair throughput are "—" with a reason.
    let paper = section_named(&md, "## Paper vs this run");
    let table = rows(paper);
    for (claim, reason) in [
        (
            "Capacity at the latency bound",
            "(not measured: experiment capacity not in this run)",
        ),
        (
            "Cold start, lowest level (wasm compile",
            "(not measured: no wasm compile series)",
        ),
        (
            "Throughput, mixed workload, fair config",
            "(not measured: experiment throughput (mixed, fair) not in this run)",
        ),
    ] {
        let row = table
            .iter()
            .find(|c| c[0].starts_with(claim))
            .unwrap_or_else(|| panic!("no headline row {claim}"));
        assert_eq!(row[3], "—", "{row:?}");
        assert_eq!(row[4], reason, "{row:?}");
    }
    // The failed cold start is counted, and listed with its reason.
    assert!(md.contains("| cold-start | docker | create-start | default | hash | 2 | cold_start | latency | 1 | provision: container start timed out after 30 s |"), "{md}");
    // No table cell anywhere is a bare zero standing in for a missing statistic: every "0" is a
    // count column (n, failed, errors).
    let summary = s
        .experiments
        .iter()
        .find(|e| e.experiment == "capacity")
        .unwrap();
    assert!(!summary.measured);
    common::cleanup(&run);
}

fn section_named<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md.find(heading).unwrap();
    let rest = &md[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

#[test]
fn one_chart_pair_per_present_experiment_and_none_for_the_absent_one() {
    let run = common::fixture_copy("charts");
    let s = wow_report::generate(&run).unwrap();
    let charts = run.join("report/charts");
    let expected = [
        "ladder",
        "cold-start",
        "cold-start-phases",
        "memory",
        "module-size",
        "throughput",
        "realistic-ecdf",
    ];
    for id in expected {
        let png = std::fs::read(charts.join(format!("{id}-host.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{id}.png is not a PNG"
        );
        assert!(png.len() > 10_000, "{id}.png is suspiciously small");
        let svg = std::fs::read_to_string(charts.join(format!("{id}-host.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{id}.svg");
        assert!(svg.contains("DejaVu Sans"), "{id}.svg names its font");
    }
    assert_eq!(s.charts.len(), expected.len());
    let mut files: Vec<String> = std::fs::read_dir(&charts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2 * expected.len(), "{files:?}");
    assert!(
        !files.iter().any(|f| f.starts_with("capacity")),
        "{files:?}"
    );
    // report.md links every chart as PNG, index.html as SVG.
    let md = std::fs::read_to_string(&s.report_md).unwrap();
    let html = std::fs::read_to_string(&s.index_html).unwrap();
    for id in expected {
        assert!(md.contains(&format!("(charts/{id}-host.png)")), "{id}");
        assert!(
            html.contains(&format!("src=\"charts/{id}-host.svg\"")),
            "{id}"
        );
    }
    // Each chart once in its section, and cold start, memory and throughput once more at the
    // top, beside the headlines.
    assert!(html.contains(&format!("data-charts-expected=\"{}\"", expected.len() + 3)));
    common::cleanup(&run);
}

#[test]
fn regenerating_gives_identical_bytes() {
    let run = common::fixture_copy("regen");
    let s = wow_report::generate(&run).unwrap();
    let read = |p: &Path| std::fs::read(p).unwrap();
    let md1 = read(&s.report_md);
    let html1 = read(&s.index_html);
    let charts1: Vec<(Vec<u8>, Vec<u8>)> = s
        .charts
        .iter()
        .map(|c| (read(&c.png), read(&c.svg)))
        .collect();
    let s2 = wow_report::generate(&run).unwrap();
    assert_eq!(md1, read(&s2.report_md), "report.md differs");
    assert_eq!(html1, read(&s2.index_html), "index.html differs");
    for (c, (png, svg)) in s2.charts.iter().zip(&charts1) {
        assert_eq!(&read(&c.png), png, "{} differs", c.png.display());
        assert_eq!(&read(&c.svg), svg, "{} differs", c.svg.display());
    }
    common::cleanup(&run);
}

#[test]
fn headline_values_equal_hand_computed_ones() {
    let h = headlines(&summary(), "host");
    let get = |id: &str| {
        h.iter()
            .find(|x| x.id == id)
            .unwrap_or_else(|| panic!("no headline {id}"))
    };
    let close = |id: &str, want: f64| {
        let v = get(id).value.unwrap_or_else(|| panic!("{id} missing"));
        assert!((v - want).abs() < 1e-12, "{id}: {v} != {want}");
    };
    // Cold start: medians 2106 µs vs 331 ms at 1; 2710 µs vs 450 ms at 2.
    close("cold-start-low", 2106.0 / 331_000.0 - 1.0);
    close("cold-start-high", 2710.0 / 450_000.0 - 1.0);
    assert_eq!(get("cold-start-low").display(), "−99.4%");
    assert!(get("cold-start-high").setup.contains("2 concurrent"));
    assert_eq!(get("cold-start-compile-low").value, None);
    // Memory at N = 4: docker 0.625 / 5.75 MiB; wasm distinct 3 / 0.5, shared 2.5 / 0.25 MiB.
    close("memory-paper-distinct", 0.625 / 3.0);
    close("memory-full-distinct", 5.75 / 0.5);
    close("memory-paper-shared", 0.625 / 2.5);
    close("memory-full-shared", 5.75 / 0.25);
    assert_eq!(get("memory-full-shared").display(), "23.0×");
    // Mixed throughput, paper config: mean of 12/4 and 20/5 over clients 2 and 4.
    close("throughput-mixed-paper", (3.0 + 4.0) / 2.0);
    assert_eq!(get("throughput-mixed-paper").display(), "3.50×");
    assert!(get("throughput-mixed-paper").setup.contains("(2, 4)"));
    assert_eq!(get("throughput-mixed-fair").value, None);
    // CPU-bound over the saturated levels: only 4 clients (at 2, 8 < 90% of 10.5 and 12 < 90%
    // of 16): 10.5 / 16.
    close("throughput-cpu-paper", 10.5 / 16.0);
    assert_eq!(get("throughput-cpu-paper").display(), "0.66×");
    assert!(
        get("throughput-cpu-paper")
            .setup
            .contains("1 saturated client level (4)")
    );
    // Every level beside the paper's 2–10 (here the same two).
    close("throughput-mixed-paper-all", (3.0 + 4.0) / 2.0);
    assert_eq!(get("capacity").value, None);
    // Realistic: the recorded percentiles and cold-start fractions.
    close("realistic-p50-wasm-precompiled", 150_000.0);
    close("realistic-p99-wasm-precompiled", 303_000.0);
    close("realistic-p50-docker-create-start", 600_000.0);
    close("realistic-p99-docker-create-start", 1_100_000.0);
    close("cold-fraction-wasm-precompiled", 0.2);
    close("cold-fraction-docker-create-start", 0.6);
    assert_eq!(get("cold-fraction-docker-create-start").display(), "60.0%");
    // A device that is not in the run has every claim, all missing.
    let none = headlines(&summary(), "pi3");
    assert_eq!(none.len(), h.len());
    assert!(
        none.iter()
            .all(|x| x.value.is_none() && x.missing.is_some())
    );
}

#[test]
fn two_devices_merge_into_one_report_keyed_by_device() {
    let host = common::fixture_copy("merge");
    // The same measurements as if taken under the `pi3` profile.
    let pi3 = host.parent().unwrap().join("fixture-pi3");
    std::fs::create_dir_all(&pi3).unwrap();
    for f in ["records.csv", "summary.csv"] {
        let text = std::fs::read_to_string(host.join(f)).unwrap();
        std::fs::write(pi3.join(f), text.replace(",host,", ",pi3,")).unwrap();
    }
    let meta = std::fs::read_to_string(host.join("meta.json"))
        .unwrap()
        .replace("\"name\": \"host\"", "\"name\": \"pi3\"")
        .replace("\"fixture-small\"", "\"fixture-pi3\"");
    std::fs::write(pi3.join("meta.json"), meta).unwrap();
    let out = host.parent().unwrap().join("merged");
    let s = wow_report::generate_merged(&[&host, &pi3], &out).unwrap();
    let md = std::fs::read_to_string(&s.report_md).unwrap();
    assert!(
        md.starts_with("# wowbench report: fixture-small + fixture-pi3\n"),
        "{md}"
    );
    assert!(md.contains("### Device `host`") && md.contains("### Device `pi3`"));
    assert!(out.join("charts/cold-start-host.png").is_file());
    assert!(out.join("charts/cold-start-pi3.png").is_file());
    assert_eq!(s.charts.len(), 14);
    // Headline values per device, identical here because the data are.
    let host_h: Vec<_> = s.headlines.iter().filter(|h| h.device == "host").collect();
    let pi3_h: Vec<_> = s.headlines.iter().filter(|h| h.device == "pi3").collect();
    assert_eq!(host_h.len(), pi3_h.len());
    for (a, b) in host_h.iter().zip(&pi3_h) {
        assert_eq!((a.id.as_str(), a.value), (b.id.as_str(), b.value));
    }
    // The pi3 rows compare an emulated Pi with the paper's devices.
    assert!(
        md.contains("emulated Pi (cgroup limits) vs real Raspberry Pi 3B"),
        "{md}"
    );
    // The same device twice is refused.
    assert!(wow_report::generate_merged(&[&host, &host], &out).is_err());
    common::cleanup(&host);
}

#[test]
fn each_engine_is_compared_with_its_own_paper_value_and_named_with_its_version() {
    use wow_records::{Backend, Engine};
    let run = common::fixture_copy("engines");
    // The fixture's Wasm rows once more as wasmer's and as wasmi's, and the engines in meta.json.
    let mut rows = summary();
    let wasm: Vec<SummaryRow> = rows
        .iter()
        .filter(|r| r.backend == Backend::Wasm)
        .cloned()
        .collect();
    for engine in ["wasmer", "wasmi"] {
        rows.extend(wasm.iter().cloned().map(|mut r| {
            r.engine = engine.to_string();
            r
        }));
    }
    wow_records::summary::write_summary(&run.join("summary.csv"), &rows).unwrap();
    let meta_path = run.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["engines"] = serde_json::json!([
        {"name": "wasmtime", "version": "48.0.8", "mode": "jit"},
        {"name": "wasmer", "version": "7.3.0", "mode": "jit"},
        {"name": "wasmi", "version": "2.0.0", "mode": "interpreter"},
    ]);
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta).unwrap()).unwrap();

    let h = headlines(&rows, "host");
    let get = |id: &str| {
        h.iter()
            .find(|x| x.id == id)
            .unwrap_or_else(|| panic!("no headline {id}"))
    };
    // Where the paper gives wasmer's value, wasmer's row compares with it; else with wasmtime's.
    assert_eq!(
        get("cold-start-low-wasmer").paper_id,
        "cold-start-low-wasmer"
    );
    assert_eq!(get("cold-start-low-wasmer").engine, Engine::Wasmer);
    assert_eq!(get("cold-start-low").engine, Engine::Wasmtime);
    assert_eq!(get("cold-start-low-wasmi").paper_id, "cold-start-low");
    // Docker's own rows are not repeated per engine.
    assert!(get("realistic-p50-docker-create-start").value.is_some());
    assert!(
        !h.iter()
            .any(|x| x.id.starts_with("realistic-p50-docker-create-start-"))
    );
    // The idle executor: the memory experiment's empty reading (7 MiB in the fixture).
    assert_eq!(get("idle-rss-wasm").value, Some(7_340_032.0));
    assert_eq!(get("idle-rss-wasm-wasmer").display(), "7.00 MiB");
    assert_eq!(get("idle-rss-wasm-wasmer").paper_id, "idle-rss-wasm-wasmer");

    let s = wow_report::generate(&run).unwrap();
    let md = std::fs::read_to_string(&s.report_md).unwrap();
    let row = |claim: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {claim} |")))
            .unwrap_or_else(|| panic!("no row {claim} in\n{md}"))
            .to_string()
    };
    let idle = row("Idle executor RSS (wasm) [wasmer]");
    assert!(idle.contains("| 5.28 MiB |"), "{idle}");
    assert!(idle.contains("wasmer 7.3.0 vs wasmer 1.0.1"), "{idle}");
    assert!(!idle.contains("Rust proxy"), "{idle}");
    let idle = row("Idle executor RSS (wasm)");
    assert!(idle.contains("wasmtime 48.0.8 vs wasmtime 0.23"), "{idle}");
    // The paper never ran wasmi: its rows compare with wasmtime's values and say so.
    let idle = row("Idle executor RSS (wasm) [wasmi]");
    assert!(idle.contains("| 7.07 MiB |"), "{idle}");
    assert!(idle.contains("wasmi 2.0.0 vs wasmtime 0.23"), "{idle}");
    common::cleanup(&run);
}

#[test]
fn the_warm_run_table_equals_the_csv() {
    let run = common::fixture_copy("warm");
    let s = wow_report::generate(&run).unwrap();
    let md = std::fs::read_to_string(&s.report_md).unwrap();
    let warm: String = md[md.find("Warm runs:").expect("a warm-run table")..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let r = rows(&warm);
    assert_eq!(r[0][0], "series", "{warm}");
    let docker = r
        .iter()
        .find(|c| c[0].contains("docker"))
        .expect("docker row");
    let wasm = r.iter().find(|c| c[0].contains("wasm")).expect("wasm row");
    // Docker: 4 successes (median 1150 µs), 1 failure; Wasm: 5 successes, median 120 µs.
    assert_eq!(
        (&docker[1][..], &docker[2][..], &docker[3][..]),
        ("noop", "4", "1")
    );
    assert_eq!(docker[4], fmt::duration_us(1150.0));
    assert_eq!((&wasm[2][..], &wasm[3][..]), ("5", "0"));
    assert_eq!(wasm[4], fmt::duration_us(120.0));
    common::cleanup(&run);
}
