//! Every workload gives the same result under the Wasm executor as its native build does, and
//! the executor serves many runs at once, on one sandbox and across sandboxes.

use crate::common;
use crate::workload_cases::cases;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Runs the native build as a process: params on stdin, result = last stdout line.
fn run_native(workload: &str, params: &Value) -> Value {
    let mut child = Command::new(native(workload))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(params.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (_, line) = wow_protocol::split_output(&out.stdout);
    serde_json::from_slice(line).unwrap_or_else(|e| {
        panic!(
            "{workload} native output is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test]
async fn wasm_results_equal_native_results() {
    let rt = Runtime::start(&[]);
    for w in wow_artifacts::WORKLOADS {
        let (s, v) = rt.init(w, &workload(w)).await;
        assert_eq!(s, 200, "{w}: {v}");
    }
    let mut checked = 0;
    for (w, params) in cases() {
        let native = run_native(w, &params);
        let (s, wasm) = rt.run(w, params.clone()).await;
        assert_eq!(s, 200, "{w} {params}: {wasm}");
        assert_eq!(wasm, native, "{w} with {params}: wasm and native differ");
        checked += 1;
    }
    // Bad input is an application error on both sides: 200 with {"error": …}.
    for (w, params) in cases() {
        if run_native(w, &params).get("error").is_some() {
            assert!(rt.run(w, params).await.1["error"].is_string());
        }
    }
    assert_eq!(checked, cases().len());
}

#[tokio::test]
async fn many_concurrent_runs_on_one_sandbox_and_across_sandboxes() {
    let rt = Runtime::start(&["--quiet-guests"]);
    let sleep = workload("sleep");
    for i in 0..4 {
        assert_eq!(rt.init(&format!("s{i}"), &sleep).await.0, 200);
    }
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = rt.client.clone();
        let url = format!("{}/s{}/run", rt.url, i % 4);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .body(json!({"value": {"ms": 300}}).to_string())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (200, json!({"slept_ms": 300})));
    }
    // 200 sleeps of 300 ms on 2 cores: concurrent, not serialised (which would take a minute).
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

#[tokio::test]
async fn destroy_during_load_lets_runs_in_flight_finish() {
    let rt = Runtime::start(&["--quiet-guests"]);
    assert_eq!(rt.init("victim", &workload("sleep")).await.0, 200);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = rt.client.clone();
        let url = format!("{}/victim/run", rt.url);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .body(json!({"value": {"ms": 500}}).to_string())
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(rt.post("/victim/destroy", "").await.0, 200);
    let statuses: Vec<u16> = futures_join(tasks).await;
    // Every run either finished (it had started) or found the sandbox gone; nothing else.
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 404),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    assert_eq!(rt.run("victim", json!({})).await.0, 404);
    rt.assert_healthy(&workload("noop")).await;
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn per_sandbox_concurrency_limit_queues_runs() {
    let rt = Runtime::start(&["--quiet-guests", "--concurrency", "1"]);
    assert_eq!(rt.init("one", &workload("sleep")).await.0, 200);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = rt.client.clone();
        let url = format!("{}/one/run", rt.url);
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .body(json!({"value": {"ms": 200}}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    assert!(futures_join(tasks).await.iter().all(|s| *s == 200));
    // Four 200 ms runs one at a time take at least 800 ms.
    assert!(
        t.elapsed() >= Duration::from_millis(790),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn waiting_for_the_concurrency_limit_counts_against_the_deadline() {
    let rt = Runtime::start(&["--quiet-guests", "--concurrency", "1"]);
    assert_eq!(rt.init("one", &workload("sleep")).await.0, 200);
    let client = rt.client.clone();
    let url = format!("{}/one/run", rt.url);
    let busy = tokio::spawn(async move {
        client
            .post(url)
            .body(json!({"value": {"ms": 3000}}).to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let (s, v) = rt
        .run_with(
            "one",
            json!({"value": {"ms": 1}, "deadline": deadline_in(400)}),
        )
        .await;
    assert_eq!(s, 502, "{v}");
    assert!(v["error"].as_str().unwrap().contains("time limits"), "{v}");
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "it waited for the slot: {:?}",
        t.elapsed()
    );
    assert_eq!(busy.await.unwrap(), 200);
}
