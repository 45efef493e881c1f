//! Opens the report's index.html in headless Chromium at a laptop's size and checks that every
//! chart loaded (the page's script writes the count into `data-charts-loaded`) and that the page
//! opens on the headlines (`data-first-screen`). Needs Chromium: on Debian,
//! `apt-get update && apt-get install -y chromium`; `CHROMIUM=/path/to/binary` overrides.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The value of `name="…"` on the `<body>` tag of a dumped DOM.
fn body_attr(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let tag = &body[..body.find('>')?];
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

#[test]
fn index_html_renders_every_chart_in_headless_chromium() {
    let chromium = find_chromium().unwrap_or_else(|| {
        panic!(
            "Chromium is needed to check that index.html renders its charts, and none was found \
             (looked for chromium, chromium-browser, google-chrome on PATH). Install it with \
             `apt-get update && apt-get install -y chromium`, or set CHROMIUM=/path/to/chromium."
        )
    });
    let run = common::fixture_copy("chromium");
    let s = wow_report::generate(&run).unwrap();
    assert!(!s.charts.is_empty());
    let profile = run.parent().unwrap().join("chromium-profile");
    let url = format!("file://{}", s.index_html.canonicalize().unwrap().display());
    let mut child = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=5000",
            // A laptop's screen: what the first screen shows is checked below.
            "--window-size=1366,768",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("{} did not finish within 180 s", chromium.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let loaded = body_attr(&dom, "data-charts-loaded").unwrap_or_else(|| {
        panic!(
            "no data-charts-loaded on <body>; Chromium said:\n{}\n{dom}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let expected = body_attr(&dom, "data-charts-expected").unwrap();
    // Every chart once in its section, and the three headline charts once more at the top.
    assert_eq!(expected, (s.charts.len() + 3).to_string());
    assert_eq!(
        loaded,
        expected,
        "charts that loaded in Chromium (of {expected}); stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The page opens on the answer: the headline table on the first screen, the machine
    // tables not; the three charts follow the table, before any other section.
    let first = body_attr(&dom, "data-first-screen").expect("data-first-screen on <body>");
    let first: Vec<&str> = first.split('|').collect();
    assert!(first.contains(&"h2:Headlines"), "first screen: {first:?}");
    let after_heading = first.iter().skip_while(|e| **e != "h2:Headlines");
    assert!(
        after_heading.clone().any(|e| *e == "table"),
        "the headline table starts on the first screen: {first:?}"
    );
    assert!(
        !first
            .iter()
            .any(|e| e.contains("Machine and configuration")),
        "{first:?}"
    );
    let body = &dom[dom.find("<h2>Headlines").expect("a Headlines section")..];
    let next_section = body[4..].find("<h2>").map_or(body.len(), |i| i + 4);
    let top = &body[..next_section];
    for chart in [
        "cold-start-host.svg",
        "memory-host.svg",
        "throughput-host.svg",
    ] {
        assert!(
            top.contains(&format!("charts/{chart}")),
            "{chart} in the headlines section"
        );
    }
    let machine = dom
        .find("<h2>Machine and configuration")
        .expect("machine section");
    assert!(
        machine
            > dom
                .find("<h2>Latency histograms")
                .expect("histograms section"),
        "the machine and configuration come at the end"
    );
    common::cleanup(&run);
}
