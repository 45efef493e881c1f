//! Hardening of the executor against clients and guests that would wedge it, exhaust it or
//! make it load what it should not: each test drives the real `wow-runtime` over HTTP on
//! loopback with the flags it is about.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// A WASI command Cranelift takes a while to compile: `funcs` functions of `ops` arithmetic
/// steps each (none of them called).
fn slow_to_compile(funcs: usize, ops: usize) -> Vec<u8> {
    let mut text = String::from("(module (memory (export \"memory\") 1)\n");
    for f in 0..funcs {
        text.push_str(&format!(
            "(func $f{f} (param i64) (result i64) (local i64) (local.set 1 (local.get 0))\n"
        ));
        for k in 0..ops {
            text.push_str(&format!(
                "(local.set 1 (i64.add (i64.mul (local.get 1) (i64.const {})) (i64.rotl (local.get 0) (local.get 1))))\n",
                2 * k + 3
            ));
        }
        text.push_str("(local.get 1))\n");
    }
    text.push_str("(func (export \"_start\")))");
    wat(&text)
}

/// The value of an unlabelled metric in `/metrics`.
async fn metric(rt: &Runtime, name: &str) -> u64 {
    let text = rt.get_text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Sends `body` to `path` over a raw connection and returns the connection, not reading the
/// answer: the caller hangs up when it likes.
async fn send_raw(rt: &Runtime, path: &str, body: &str) -> tokio::net::TcpStream {
    let addr = rt.url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body.as_bytes()).await.unwrap();
    tcp
}

/// Item: a client that hangs up during `/init` must not leave the sandbox initialising for
/// good, nor the artifact cache's in-flight entry behind.
#[tokio::test]
async fn a_client_gone_during_init_leaves_the_sandbox_free() {
    let noop = workload("noop");
    let rt = Runtime::start(&["--no-disk-cache"]);
    // Compiled before, so the init after the hang-up does not wait for the compiler.
    assert_eq!(rt.init("warm", &noop).await.0, 200);
    let slow = slow_to_compile(3000, 60);
    let body = json!({"value": {"name": "slow", "main": "main", "binary": true,
        "code": b64(&slow)}})
    .to_string();
    let tcp = send_raw(&rt, "/init", &body).await;
    // Hang up once the compilation is under way.
    let t = Instant::now();
    while metric(&rt, "wow_artifact_loads_in_flight").await == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the compile never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(tcp);

    // The default sandbox takes another init (once the executor has seen the hang-up), while
    // the abandoned compile is still running.
    let t = Instant::now();
    loop {
        let (s, v) = rt.init("", &noop).await;
        if s == 200 {
            break;
        }
        assert_eq!(s, 403, "{v}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the sandbox stayed claimed by the init whose client left: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        metric(&rt, "wow_artifact_loads_in_flight").await,
        1,
        "the slow compile should still be under way, else this test proves nothing"
    );
    assert_eq!(
        rt.run("", json!({"after": "hang-up"})).await,
        (200, json!({"after": "hang-up"}))
    );

    // The abandoned compile finishes, is cached, and leaves the in-flight table.
    let t = Instant::now();
    while metric(&rt, "wow_artifact_loads_in_flight").await != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the in-flight entry of the abandoned compile was never removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, v) = rt.init("slow-again", &slow).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["artifact"], "memory", "{v}");
}

/// Item: a far-future deadline does not let a guest burn a core for good: runs are clamped to
/// `--max-timeout-ms`.
#[tokio::test]
async fn a_far_future_deadline_is_clamped_to_the_max_timeout() {
    let rt = Runtime::start(&["--max-timeout-ms", "500"]);
    assert_eq!(rt.init("spin", &wat(LOOP)).await.0, 200);
    let t = Instant::now();
    let (s, v) = rt
        .run_with(
            "spin",
            json!({"value": {}, "deadline": deadline_in(24 * 3600 * 1000)}),
        )
        .await;
    let took = t.elapsed();
    assert_eq!(s, 502, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("500 milliseconds"),
        "{v}"
    );
    assert!(
        took < Duration::from_secs(10),
        "stopped only after {took:?}"
    );
    // The default timeout is clamped too.
    let rt = Runtime::start(&["--max-timeout-ms", "400", "--timeout-ms", "3600000"]);
    assert_eq!(rt.init("spin", &wat(LOOP)).await.0, 200);
    let (s, v) = rt.run("spin", json!({})).await;
    assert_eq!(s, 502, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("400 milliseconds"),
        "{v}"
    );
}
