//! The proxy in spawn mode (the default, OpenWhisk's dockerskeleton model), driven over HTTP with
//! small shell scripts as actions.

use crate::common;

use std::time::{Duration, Instant};

use common::{Proxy, SENTINEL, deadline_in};
use serde_json::json;
use wow_protocol::{MAX_RUN_BODY_BYTES, msg};

const ECHO: &str = "#!/bin/sh\nexec cat\n";

#[tokio::test]
async fn health_answers_at_once_and_unknown_routes_are_json() {
    let proxy = Proxy::start(&[]);
    let r = proxy.get("/health").await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"status": "ok"})));
    let r = proxy.get("/nope").await;
    assert_eq!(r.status, 404);
    assert!(!r.error().is_empty());
    let r = proxy.get("/run").await;
    assert_eq!(r.status, 405);
    assert!(!r.error().is_empty());
}

#[tokio::test]
async fn echo_round_trips_objects_arrays_unicode_and_a_large_string() {
    let proxy = Proxy::start(&[]);
    let r = proxy.init_script(ECHO, json!({})).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (200, json!({"ok": true})),
        "{}",
        r.text
    );

    let params = json!({"text": "héllo ✓ 日本語 🚀", "n": [1, 2.5, null, true], "o": {"k": "v"}});
    let r = proxy
        .run(params.clone(), json!({"activation_id": "a1"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, params);
    assert_eq!(r.headers["content-type"], "application/json");
    let exec_us: u64 = r.headers["x-wow-exec-us"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(exec_us > 0);

    let r = proxy.run(json!([1, "two", {"three": 3}]), json!({})).await;
    assert_eq!((r.status, r.body), (200, json!([1, "two", {"three": 3}])));

    // Pretty-printed parameters still reach the action as one line, unchanged in value.
    let r = proxy
        .post("/run", "{\"value\": {\n  \"a\": \"x\\ny\",\n  \"b\": 1\n}}")
        .await;
    assert_eq!((r.status, r.body), (200, json!({"a": "x\ny", "b": 1})));

    let big = "é".repeat(200_000) + &"x".repeat(600_000);
    let r = proxy.run(json!({ "big": big }), json!({})).await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.body["big"].as_str().unwrap(), big);
}

#[tokio::test]
async fn init_twice_is_refused() {
    let proxy = Proxy::start(&[]);
    assert_eq!(proxy.init_script(ECHO, json!({})).await.status, 200);
    let r = proxy.init_script(ECHO, json!({})).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"error": "Cannot initialize the action more than once."})
    );
    // The first action still serves.
    assert_eq!(
        proxy.run(json!({"still": 1}), json!({})).await.body,
        json!({"still": 1})
    );
}

#[tokio::test]
async fn failed_inits_report_why_and_leave_init_open() {
    let proxy = Proxy::start(&[]);
    let r = proxy.post("/init", r#"{"value": {"binary": true}}"#).await;
    assert_eq!(r.status, 502);
    assert!(r.error().contains(msg::MISSING_CODE), "{}", r.text);

    let r = proxy
        .post(
            "/init",
            r#"{"value": {"binary": true, "code": "@@not base64@@"}}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("base64"), "{}", r.text);

    let r = proxy.post("/init", "{not json").await;
    assert_eq!(r.status, 400);
    assert!(!r.error().is_empty());

    // Neither an ELF binary nor a script.
    let r = proxy
        .post(
            "/init",
            r#"{"value": {"binary": false, "code": "echo hi"}}"#,
        )
        .await;
    assert_eq!(r.status, 502);
    assert!(r.error().contains("'#!'"), "{}", r.text);

    // After all that, a good init still works: failures do not count as "initialised".
    let r = proxy
        .post("/init", json!({"value": {"code": ECHO}}).to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        proxy.run(json!({"x": 1}), json!({})).await.body,
        json!({"x": 1})
    );
}

#[tokio::test]
async fn run_before_init_is_refused() {
    let proxy = Proxy::start(&[]);
    let r = proxy.run(json!({}), json!({})).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "The action failed to locate a binary. See logs for details."
    );
}

#[tokio::test]
async fn bad_run_requests_get_the_protocols_errors() {
    let proxy = Proxy::start(&[]);
    proxy.init_script(ECHO, json!({})).await;

    let r = proxy.post("/run", "{\"value\": ").await;
    assert_eq!(r.status, 400);
    assert!(!r.error().is_empty());

    let r = proxy.post("/run", r#"{"value": 3}"#).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), msg::NOT_DICT_ARG);

    let r = proxy.post("/run", vec![b' '; MAX_RUN_BODY_BYTES + 1]).await;
    assert_eq!(r.status, 413);
    assert!(r.error().contains("limit"), "{}", r.text);

    let huge = format!(
        "{{\"value\": {{\"s\": \"{}\"}}}}",
        "x".repeat(MAX_RUN_BODY_BYTES - 64)
    );
    let r = proxy.post("/run", huge).await;
    assert_eq!(r.status, 413, "{}", r.text);

    // The proxy is fine afterwards.
    assert_eq!(
        proxy.run(json!({"ok": 1}), json!({})).await.body,
        json!({"ok": 1})
    );
}

#[tokio::test]
async fn a_result_that_is_not_an_object_is_refused() {
    let proxy = Proxy::start(&[]);
    proxy
        .init_script("#!/bin/sh\necho 'a log line'\necho 42\n", json!({}))
        .await;
    let r = proxy.run(json!({}), json!({})).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "The action did not return a dictionary or array."
    );
}

#[tokio::test]
async fn init_env_and_run_context_reach_the_action() {
    let proxy = Proxy::start(&[]);
    let script = r#"#!/bin/sh
printf '{"a":"%s","n":"%s","ns":"%s","name":"%s","id":"%s","dl":"%s","key":"%s","loop":"%s","cwd":"%s"}\n' \
  "$A" "$N" "$__OW_NAMESPACE" "$__OW_ACTION_NAME" "$__OW_ACTIVATION_ID" "$__OW_DEADLINE" "$__OW_API_KEY" \
  "${__OW_ACTIONLOOP:-unset}" "$(pwd)"
"#;
    let r = proxy
        .init_script(script, json!({"A": "from init", "N": 2}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let deadline = deadline_in(30_000);
    let ctx = json!({"namespace": "ns1", "action_name": "/ns1/act", "activation_id": "act-9",
                     "deadline": deadline, "api_key": "k:1", "transaction_id": "tx"});
    let r = proxy.run(json!({}), ctx).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dir = std::fs::canonicalize(&proxy.dir).unwrap();
    assert_eq!(
        r.body,
        json!({"a": "from init", "n": "2", "ns": "ns1", "name": "/ns1/act", "id": "act-9",
               "dl": deadline, "key": "k:1", "loop": "unset", "cwd": dir.to_str().unwrap()})
    );
}

#[tokio::test]
async fn an_application_error_passes_through_as_200() {
    let proxy = Proxy::start(&[]);
    proxy
        .init_script(
            "#!/bin/sh\necho '{\"error\":\"boom\",\"code\":7}'\nexit 3\n",
            json!({}),
        )
        .await;
    let r = proxy.run(json!({}), json!({})).await;
    assert_eq!(
        (r.status, r.body),
        (200, json!({"error": "boom", "code": 7}))
    );
}

#[tokio::test]
async fn death_by_signal_is_reported_with_the_signal() {
    let proxy = Proxy::start(&[]);
    proxy
        .init_script("#!/bin/sh\necho 'about to die'\nkill -9 $$\n", json!({}))
        .await;
    let r = proxy.run(json!({}), json!({})).await;
    assert_eq!(r.status, 502);
    assert!(r.error().contains("signal 9 (SIGKILL)"), "{}", r.text);
}

#[tokio::test]
async fn a_deadline_kills_a_sleeping_action_and_its_children_quickly() {
    let proxy = Proxy::start(&[]);
    // `sleep` is a child of the shell: killing only the shell would leave it running.
    let script = "#!/bin/sh\nsleep 5 &\necho $! > sleeper.pid\nwait\necho '{}'\n";
    proxy.init_script(script, json!({})).await;
    let start = Instant::now();
    let r = proxy
        .run(json!({}), json!({"deadline": deadline_in(400)}))
        .await;
    let took = start.elapsed();
    assert_eq!(r.status, 502, "{}", r.text);
    assert!(
        r.error()
            .starts_with("The action exceeded its time limits of"),
        "{}",
        r.text
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        !common::running(common::pid_from(&proxy, "sleeper.pid").await).await,
        "the action's child survived"
    );

    // A deadline already past: answered without running.
    let r = proxy.run(json!({}), json!({"deadline": "1000"})).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "The action exceeded its time limits of 0 milliseconds."
    );
}

#[tokio::test]
async fn a_background_helper_neither_delays_the_answer_nor_outlives_the_run() {
    let proxy = Proxy::start(&[]);
    // The helper inherits stdout, so the pipe stays open after the action exits.
    let script = "#!/bin/sh\nsleep 5 &\necho $! > helper.pid\necho '{\"bg\":1}'\n";
    proxy.init_script(script, json!({})).await;
    let start = Instant::now();
    let r = proxy.run(json!({}), json!({})).await;
    assert_eq!((r.status, r.body), (200, json!({"bg": 1})));
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        !common::running(common::pid_from(&proxy, "helper.pid").await).await,
        "the helper survived"
    );
}

#[tokio::test]
async fn the_default_timeout_applies_without_a_deadline() {
    let proxy = Proxy::start(&["--default-timeout-ms", "300"]);
    proxy
        .init_script("#!/bin/sh\nsleep 5\necho '{}'\n", json!({}))
        .await;
    let start = Instant::now();
    let r = proxy.run(json!({}), json!({})).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "The action exceeded its time limits of 300 milliseconds."
    );
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_output_flood_is_cut_off_and_the_proxy_keeps_serving() {
    let proxy = Proxy::start(&["--max-output-bytes", "1048576"]);
    let script = "#!/bin/sh\nread -r p\ncase \"$p\" in *flood*) exec yes ;; *err*) exec yes >&2 ;; esac\necho '{\"ok\":true}'\n";
    proxy.init_script(script, json!({})).await;
    for (params, stream) in [
        (json!({"flood": 1}), "stdout"),
        (json!({"err": 1}), "stderr"),
    ] {
        let start = Instant::now();
        let r = proxy.run(params, json!({})).await;
        assert_eq!(r.status, 502, "{}", r.text);
        assert_eq!(
            r.error(),
            format!("The action wrote more than 1048576 bytes to {stream} and was stopped.")
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    let r = proxy.run(json!({}), json!({})).await;
    assert_eq!((r.status, r.body), (200, json!({"ok": true})));
}

#[tokio::test]
async fn logs_carry_the_activation_id_and_end_with_the_sentinel() {
    let proxy = Proxy::start(&[]);
    let script = "#!/bin/sh\necho 'first log line'\necho 'to stderr' >&2\nprintf 'no newline' >&2\necho '{\"done\":true}'\n";
    proxy.init_script(script, json!({})).await;
    let r = proxy
        .run(json!({}), json!({"activation_id": "act-logs"}))
        .await;
    assert_eq!((r.status, r.body), (200, json!({"done": true})));
    proxy.wait_logs(SENTINEL).await;
    let out = proxy.stdout();
    let err = proxy.stderr();
    let line = out.find("[act-logs] first log line\n").expect(&out);
    assert!(out.find(SENTINEL).unwrap() > line);
    assert!(!out.contains("done"), "the result is not a log line: {out}");
    let e1 = err.find("[act-logs] to stderr\n").expect(&err);
    let e2 = err.find("[act-logs] no newline\n").expect(&err);
    assert!(e1 < e2 && e2 < err.find(SENTINEL).unwrap());
}

/// Two runs of a script that records when it ran; returns (start, end) pairs in ns.
async fn two_timed_runs(proxy: &Proxy) -> Vec<(u64, u64)> {
    let script = "#!/bin/sh\ns=$(date +%s%N)\nsleep 0.3\ne=$(date +%s%N)\necho \"{\\\"s\\\":$s,\\\"e\\\":$e}\"\n";
    assert_eq!(proxy.init_script(script, json!({})).await.status, 200);
    let (a, b) = tokio::join!(
        proxy.run(json!({}), json!({})),
        proxy.run(json!({}), json!({}))
    );
    let mut spans: Vec<(u64, u64)> = [a, b]
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.text);
            (r.body["s"].as_u64().unwrap(), r.body["e"].as_u64().unwrap())
        })
        .collect();
    spans.sort();
    spans
}

#[tokio::test]
async fn concurrency_one_runs_one_at_a_time() {
    let proxy = Proxy::start(&["--concurrency", "1"]);
    let spans = two_timed_runs(&proxy).await;
    assert!(spans[1].0 >= spans[0].1, "runs overlapped: {spans:?}");
}

#[tokio::test]
async fn concurrency_two_runs_together() {
    let proxy = Proxy::start(&["--concurrency", "2"]);
    let spans = two_timed_runs(&proxy).await;
    assert!(spans[1].0 < spans[0].1, "runs did not overlap: {spans:?}");
}

#[tokio::test]
async fn past_the_queue_runs_are_refused_with_429() {
    let proxy = Proxy::start(&["--concurrency", "1", "--max-queue", "1"]);
    proxy
        .init_script("#!/bin/sh\nsleep 0.5\necho '{}'\n", json!({}))
        .await;
    let (a, b, c) = tokio::join!(
        proxy.run(json!({}), json!({})),
        proxy.run(json!({}), json!({})),
        proxy.run(json!({}), json!({}))
    );
    let mut statuses = vec![a.status, b.status, c.status];
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 429]);
    let refused = [a, b, c].into_iter().find(|r| r.status == 429).unwrap();
    assert!(
        refused.error().starts_with("Too many requests"),
        "{}",
        refused.text
    );
}

#[tokio::test]
async fn sigterm_stops_the_proxy_and_kills_running_actions() {
    let mut proxy = Proxy::start(&[]);
    let script = "#!/bin/sh\nsleep 30 &\necho $! > sleeper.pid\nwait\necho '{}'\n";
    proxy.init_script(script, json!({})).await;
    let client = proxy.client.clone();
    let url = format!("{}/run", proxy.base);
    let run = tokio::spawn(async move { client.post(url).body("{}").send().await });
    let sleeper = common::pid_from(&proxy, "sleeper.pid").await;
    proxy.signal(libc::SIGTERM);
    let status = proxy
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("proxy did not stop");
    assert!(status.success(), "{status:?}");
    // The in-flight run got an answer (an error) or a closed connection, not a hang.
    let answered = tokio::time::timeout(Duration::from_secs(5), run).await;
    assert!(answered.is_ok(), "the in-flight request hung");
    // The action's child is gone (or a zombie awaiting its new parent).
    assert!(
        !common::running(sleeper).await,
        "the action's child survived the proxy"
    );
}

#[tokio::test]
async fn a_failed_run_does_not_break_the_next() {
    let proxy = Proxy::start(&[]);
    let script =
        "#!/bin/sh\nread -r p\ncase \"$p\" in *bad*) echo nope; exit 1 ;; esac\necho \"$p\"\n";
    proxy.init_script(script, json!({})).await;
    let r = proxy.run(json!({"bad": true}), json!({})).await;
    assert_eq!(r.status, 502);
    let r = proxy.run(json!({"good": true}), json!({})).await;
    assert_eq!((r.status, r.body), (200, json!({"good": true})));
}
