//! The proxy in actionloop mode (OpenWhisk's Go action loop model), with a shell loop as action:
//! it reads one envelope per stdin line and answers one line on fd 3.

use crate::common;

use std::time::{Duration, Instant};

use common::{Proxy, SENTINEL, deadline_in};
use serde_json::json;

/// Counts the activations it served; echoes the envelope it got. Misbehaves on request.
const LOOP: &str = r#"#!/bin/sh
n=0
while IFS= read -r line; do
  n=$((n+1))
  s=$(date +%s%N)
  case "$line" in
    *'"nap"'*) sleep 0.3 ;;
    *'"hang"'*) sleep 30 & echo $! > hang.pid; wait ;;
    *'"die"'*) kill -9 $$ ;;
    *'"bad"'*) echo 42 >&3; continue ;;
  esac
  e=$(date +%s%N)
  echo "loop log $n"
  echo "loop err $n" >&2
  printf '{"loop":true,"n":%d,"pid":%d,"al":"%s","a":"%s","s":%s,"e":%s,"got":%s}\n' \
    "$n" "$$" "$__OW_ACTIONLOOP" "$A" "$s" "$e" "$line" >&3
done
"#;

async fn start(args: &[&str]) -> Proxy {
    let mut all = vec!["--exec-mode", "actionloop"];
    all.extend_from_slice(args);
    let proxy = Proxy::start(&all);
    let r = proxy.init_script(LOOP, json!({"A": "init env"})).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (200, json!({"ok": true})),
        "{}",
        r.text
    );
    proxy
}

fn pid(r: &common::Reply) -> u64 {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["pid"].as_u64().unwrap()
}

#[tokio::test]
async fn one_process_serves_successive_runs_with_the_envelope() {
    let proxy = start(&[]).await;
    let deadline = deadline_in(30_000);
    let mut pids = Vec::new();
    for i in 1..=3u64 {
        let id = format!("act-{i}");
        let params = json!({"i": i, "s": "ünï\ncode"});
        let r = proxy
            .run(
                params.clone(),
                json!({"activation_id": id, "namespace": "ns", "deadline": deadline}),
            )
            .await;
        pids.push(pid(&r));
        assert_eq!(r.body["n"], i, "{}", r.text);
        assert_eq!(r.body["al"], "1");
        assert_eq!(r.body["a"], "init env");
        assert_eq!(
            r.body["got"],
            json!({"value": params, "activation_id": id, "namespace": "ns", "deadline": deadline})
        );
        assert!(r.headers.contains_key("x-wow-exec-us"));
    }
    assert!(
        pids.iter().all(|&p| p == pids[0]),
        "process not reused: {pids:?}"
    );

    // Logs of each activation carry its id and precede its sentinel.
    proxy.wait_logs(SENTINEL).await;
    let start = Instant::now();
    while proxy.stdout().matches(SENTINEL).count() < 3
        || proxy.stderr().matches(SENTINEL).count() < 3
    {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = proxy.stdout();
    let err = proxy.stderr();
    for i in 1..=3 {
        let o = out.find(&format!("[act-{i}] loop log {i}\n")).expect(&out);
        let e = err.find(&format!("[act-{i}] loop err {i}\n")).expect(&err);
        let nth_sentinel = |s: &str| s.match_indices(SENTINEL).nth(i - 1).unwrap().0;
        assert!(o < nth_sentinel(&out), "{out}");
        assert!(e < nth_sentinel(&err), "{err}");
    }
}

#[tokio::test]
async fn a_timed_out_process_is_replaced() {
    let proxy = start(&[]).await;
    let first = pid(&proxy.run(json!({}), json!({})).await);
    let begin = Instant::now();
    let r = proxy
        .run(json!({"hang": 1}), json!({"deadline": deadline_in(400)}))
        .await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert!(
        r.error()
            .starts_with("The action exceeded its time limits of"),
        "{}",
        r.text
    );
    assert!(begin.elapsed() < Duration::from_secs(3));
    let helper = common::pid_from(&proxy, "hang.pid").await;
    assert!(!common::running(helper).await, "the loop's child survived");
    let r = proxy.run(json!({}), json!({})).await;
    assert_ne!(pid(&r), first);
    assert_eq!(r.body["n"], 1, "a fresh process starts counting anew");
}

#[tokio::test]
async fn a_crashed_process_is_reported_and_replaced() {
    let proxy = start(&[]).await;
    let first = pid(&proxy.run(json!({}), json!({})).await);
    let r = proxy.run(json!({"die": 1}), json!({})).await;
    assert_eq!(r.status, 502);
    assert!(r.error().contains("signal 9 (SIGKILL)"), "{}", r.text);
    let r = proxy.run(json!({}), json!({})).await;
    assert_ne!(pid(&r), first);
    assert_eq!(r.body["n"], 1);
}

#[tokio::test]
async fn a_bad_result_line_is_refused_but_keeps_the_process() {
    let proxy = start(&[]).await;
    let first = pid(&proxy.run(json!({}), json!({})).await);
    let r = proxy.run(json!({"bad": 1}), json!({})).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "The action did not return a dictionary or array."
    );
    let r = proxy.run(json!({}), json!({})).await;
    assert_eq!(pid(&r), first);
    assert_eq!(r.body["n"], 3);
}

#[tokio::test]
async fn concurrency_two_keeps_two_processes_running_together() {
    let proxy = start(&["--concurrency", "2"]).await;
    let (a, b) = tokio::join!(
        proxy.run(json!({"nap": 1}), json!({})),
        proxy.run(json!({"nap": 1}), json!({}))
    );
    assert_ne!(pid(&a), pid(&b));
    let span = |r: &common::Reply| (r.body["s"].as_u64().unwrap(), r.body["e"].as_u64().unwrap());
    let (sa, sb) = (span(&a), span(&b));
    assert!(
        sa.0 < sb.1 && sb.0 < sa.1,
        "runs did not overlap: {sa:?} {sb:?}"
    );
    // Both are kept: further runs reuse them rather than starting more.
    let mut seen: Vec<u64> = vec![pid(&a), pid(&b)];
    for _ in 0..4 {
        let p = pid(&proxy.run(json!({}), json!({})).await);
        assert!(seen.contains(&p), "a third process appeared");
        seen.push(p);
    }
}

#[tokio::test]
async fn concurrency_one_serialises_runs_on_one_process() {
    let proxy = start(&["--concurrency", "1"]).await;
    let (a, b) = tokio::join!(
        proxy.run(json!({"nap": 1}), json!({})),
        proxy.run(json!({"nap": 1}), json!({}))
    );
    assert_eq!(pid(&a), pid(&b));
    let mut spans: Vec<(u64, u64)> = [&a, &b]
        .iter()
        .map(|r| (r.body["s"].as_u64().unwrap(), r.body["e"].as_u64().unwrap()))
        .collect();
    spans.sort();
    assert!(spans[1].0 >= spans[0].1, "runs overlapped: {spans:?}");
}
