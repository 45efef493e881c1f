//! Per-sandbox limits: a guest that traps, loops, exhausts memory, overflows its stack or floods
//! its output gets a clear error, and the executor and every other sandbox keep serving.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Writes 64 KiB to stdout 1,600 times: 100 MiB.
const FLOOD: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 65536))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1600))))))"#;

/// Runs the hostile guest in its own sandbox while a bystander sandbox keeps state, and checks
/// the error, then that the executor and the bystander still answer.
async fn hostile(rt: &mut Runtime, guest: &str, deadline_ms: u64) -> (u16, String, Duration) {
    let noop = workload("noop");
    let bystander = format!("bystander-{}", unique());
    assert_eq!(rt.init(&bystander, &noop).await.0, 200);
    let id = format!("hostile-{}", unique());
    let (s, v) = rt.init(&id, &wat(guest)).await;
    assert_eq!(s, 200, "{v}");
    let t = Instant::now();
    let (status, v) = rt
        .run_with(
            &id,
            json!({"value": {}, "deadline": deadline_in(deadline_ms)}),
        )
        .await;
    let took = t.elapsed();
    let err = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"))
        .to_string();
    assert!(rt.alive(), "the executor died");
    rt.assert_healthy(&noop).await;
    assert_eq!(
        rt.run(&bystander, json!({"b": 2})).await,
        (200, json!({"b": 2}))
    );
    (status, err, took)
}

#[tokio::test]
async fn a_trap_is_a_502_and_nothing_else_breaks() {
    let mut rt = Runtime::start(&[]);
    let (s, e, _) = hostile(&mut rt, TRAP, 10_000).await;
    assert_eq!(s, 502);
    assert!(e.contains("trapped") && e.contains("unreachable"), "{e}");
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_deadline() {
    let mut rt = Runtime::start(&[]);
    let (s, e, took) = hostile(&mut rt, LOOP, 500).await;
    assert_eq!(s, 502);
    assert!(e.contains("exceeded its time limits"), "{e}");
    assert!(
        took < Duration::from_secs(10),
        "stopped only after {took:?}"
    );
    // The default timeout applies when the request has no deadline.
    let rt2 = Runtime::start(&["--timeout-ms", "300"]);
    assert_eq!(rt2.init("l", &wat(LOOP)).await.0, 200);
    let (s, v) = rt2.run("l", json!({})).await;
    assert_eq!(s, 502);
    assert!(
        v["error"].as_str().unwrap().contains("300 milliseconds"),
        "{v}"
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let mut rt = Runtime::start(&["--memory-mb", "64"]);
    let (s, e, _) = hostile(&mut rt, MEMORY_BOMB, 30_000).await;
    assert_eq!(s, 502);
    assert!(e.contains("memory limit of 67108864 bytes"), "{e}");
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow() {
    let mut rt = Runtime::start(&[]);
    let (s, e, _) = hostile(&mut rt, RECURSE, 30_000).await;
    assert_eq!(s, 502);
    assert!(e.contains("call stack"), "{e}");
}

#[tokio::test]
async fn an_output_flood_is_capped() {
    let mut rt = Runtime::start(&["--output-bytes", "1048576"]);
    let (s, e, _) = hostile(&mut rt, FLOOD, 30_000).await;
    assert_eq!(s, 502, "{e}");
    assert!(e.contains("output limit"), "{e}");
    // The executor's own memory did not take the 100 MiB.
    let status = std::fs::read_to_string(format!("/proc/{}/status", rt_pid(&rt).await)).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    assert!(rss_kb < 100 * 1024, "peak RSS {rss_kb} kB");
}

async fn rt_pid(rt: &Runtime) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&rt.get_text("/health").await).unwrap();
    v["pid"].as_u64().unwrap()
}

#[tokio::test]
async fn a_sleeping_guest_past_its_deadline_is_stopped() {
    let mut rt = Runtime::start(&[]);
    let sleep = workload("sleep");
    assert_eq!(rt.init("s", &sleep).await.0, 200);
    let t = Instant::now();
    let (s, v) = rt
        .run_with(
            "s",
            json!({"value": {"ms": 30_000}, "deadline": deadline_in(300)}),
        )
        .await;
    assert_eq!(s, 502, "{v}");
    assert!(v["error"].as_str().unwrap().contains("time limits"), "{v}");
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(rt.alive());
    rt.assert_healthy(&workload("noop")).await;
}
