//! Hostile input against the real `wow-proxy` over HTTP: broken requests, code that is not an
//! executable, actions that misbehave, in both exec modes.
//!
//! Every case checks the precise status and `{"error": …}` message, then that the proxy process
//! is alive, that its action (or, after a refused `/init`, a freshly installed one) answers a
//! `noop` correctly, and that a bystander proxy started before any case still answers. The cases
//! are counted and listed (`--nocapture` shows them).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Proxy, Reply, alive, deadline_in};
use serde_json::{Value, json};
use wow_protocol::{MAX_INIT_BODY_BYTES, MAX_RUN_BODY_BYTES, msg};

/// Misbehaves as its parameters' `mode` says; otherwise echoes them (the `noop`).
const MODES: &str = r#"#!/bin/sh
read -r p
case "$p" in
  *'"mode":"loop"'*) while :; do :; done ;;
  *'"mode":"sleep"'*) sleep 60 ;;
  *'"mode":"flood"'*) head -c 104857600 /dev/zero | tr '\0' x ;;
  *'"mode":"errflood"'*) head -c 104857600 /dev/zero | tr '\0' x >&2 ;;
  *'"mode":"utf8"'*) printf '{"s":"\377\376"}\n' ;;
  *'"mode":"badjson"'*) echo '{"a": [1, 2' ;;
  *'"mode":"surrogate"'*) echo '{"a":"\ud800"}' ;;
  *'"mode":"scalar"'*) echo 42 ;;
  *'"mode":"nothing"'*) exit 0 ;;
  *'"mode":"exit3"'*) exit 3 ;;
  *'"mode":"ill"'*) kill -ILL $$ ;;
  *'"mode":"abort"'*) kill -ABRT $$ ;;
  *'"mode":"recurse"'*) f() { f; }; f ;;
  *'"mode":"big"'*) printf '{"s":"'; head -c 2097152 /dev/zero | tr '\0' x; printf '"}\n' ;;
  *'"mode":"closeout"'*) exec >&- 2>&-; sleep 60 ;;
  *'"mode":"helpers"'*) for i in 1 2 3 4 5 6 7 8; do sleep 60 & done; echo "$!" > helpers.pid; echo '{"helpers":8}' ;;
  *) printf '%s\n' "$p" ;;
esac
"#;

/// The action-loop counterpart: one envelope per stdin line, one result line on fd 3.
const LOOP: &str = r#"#!/bin/sh
while IFS= read -r line; do
  case "$line" in
    *'"mode":"garbage"'*) echo 'not json at all' >&3 ;;
    *'"mode":"die"'*) kill -9 $$ ;;
    *'"mode":"exit"'*) exit 0 ;;
    *'"mode":"hang"'*) sleep 60 ;;
    *'"mode":"flood"'*) head -c 104857600 /dev/zero | tr '\0' x ;;
    *'"mode":"longline"'*) head -c 4194304 /dev/zero | tr '\0' x >&3 ;;
    *) printf '%s\n' "$line" | sed 's/^{"value":\(.*\),"activation_id".*$/\1/;s/^{"value":\(.*\)}$/\1/' >&3 ;;
  esac
done
"#;

const ECHO: &str = "#!/bin/sh\nexec cat\n";

struct Suite {
    bystander: Proxy,
    cases: Vec<String>,
}

impl Suite {
    async fn new() -> Suite {
        let bystander = Proxy::start(&[]);
        let r = bystander.init_script(ECHO, json!({})).await;
        assert_eq!(r.status, 200, "bystander init: {}", r.text);
        Suite {
            bystander,
            cases: Vec::new(),
        }
    }

    /// Asserts an error answer, then that `proxy` and the bystander still serve.
    async fn expect_error(
        &mut self,
        case: &str,
        proxy: &Proxy,
        got: Reply,
        status: u16,
        fragment: &str,
    ) {
        assert_eq!(got.status, status, "{case}: status, body {}", got.text);
        let err = got.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: no error string in {}", got.text));
        assert!(
            err.contains(fragment),
            "{case}: error {err:?} lacks {fragment:?}"
        );
        assert_eq!(
            got.body.as_object().map(|o| o.len()),
            Some(1),
            "{case}: the error body has only `error`: {}",
            got.text
        );
        self.still_fine(case, proxy).await;
    }

    async fn expect_ok(&mut self, case: &str, proxy: &Proxy, got: Reply, body: Value) {
        assert_eq!(
            (got.status, &got.body),
            (200, &body),
            "{case}: {}",
            got.text
        );
        self.still_fine(case, proxy).await;
    }

    async fn still_fine(&mut self, case: &str, proxy: &Proxy) {
        assert!(alive(proxy.pid()), "{case}: the proxy died");
        assert_eq!(proxy.get("/health").await.status, 200, "{case}: no health");
        let params = json!({"after": case, "n": [1, 2, 3]});
        let r = proxy.run(params.clone(), json!({})).await;
        assert_eq!(
            (r.status, &r.body),
            (200, &params),
            "{case}: noop afterwards: {}",
            r.text
        );
        let params = json!({"bystander": case});
        let r = self.bystander.run(params.clone(), json!({})).await;
        assert_eq!(
            (r.status, &r.body),
            (200, &params),
            "{case}: the bystander was disturbed"
        );
        self.cases.push(case.to_string());
    }

    /// A refused `/init` on a fresh proxy; then the echo installs there, for `still_fine`.
    async fn bad_init(
        &mut self,
        case: &str,
        body: impl Into<reqwest::Body>,
        status: u16,
        fragment: &str,
    ) {
        let proxy = Proxy::start(&[]);
        let got = proxy.post("/init", body).await;
        let r = proxy.init_script(ECHO, json!({})).await;
        assert_eq!(r.status, 200, "{case}: init stays open: {}", r.text);
        self.expect_error(case, &proxy, got, status, fragment).await;
    }

    /// An `/init` that succeeds but whose every run fails; then the echo, on a fresh proxy.
    async fn unrunnable(&mut self, case: &str, code: &[u8], fragment: &str) {
        let proxy = Proxy::start(&[]);
        let r = proxy.post("/init", init_body(&b64(code))).await;
        assert_eq!(r.status, 200, "{case}: {}", r.text);
        let got = proxy.run(json!({}), json!({})).await;
        assert_eq!(got.status, 502, "{case}: {}", got.text);
        assert!(got.error().contains(fragment), "{case}: {}", got.text);
        // The proxy still answers, with the same error, and is otherwise fine.
        assert_eq!(proxy.run(json!({}), json!({})).await.status, 502);
        let got2 = proxy.get("/health").await;
        assert_eq!(got2.status, 200);
        let healthy = Proxy::start(&[]);
        assert_eq!(healthy.init_script(ECHO, json!({})).await.status, 200);
        self.expect_error(case, &healthy, got, 502, fragment).await;
        assert!(alive(proxy.pid()));
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn init_body(code: &str) -> String {
    json!({"value": {"name": "x", "main": "main", "binary": true, "code": code}}).to_string()
}

/// Posts a body over the route's limit. The proxy reads an oversized body to its end before
/// answering (or, past its bound, closes the connection and says so), so the client gets the
/// 413 and its next request on the same connection pool works.
async fn oversized(proxy: &Proxy, path: &str, body: Vec<u8>) -> Reply {
    let r = proxy
        .client
        .post(format!("{}{path}", proxy.base))
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let next = proxy
        .client
        .get(format!("{}/health", proxy.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the request after POST {path} failed: {e}"));
    assert_eq!(next.status().as_u16(), 200);
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        headers,
    }
}

async fn init_cases(s: &mut Suite) {
    s.bad_init(
        "init: invalid base64",
        init_body("@@ not base64 @@"),
        400,
        "not valid base64",
    )
    .await;
    s.bad_init(
        "init: bytes that are neither ELF nor #!",
        init_body(&b64(b"\0asm\x01\0\0\0 a wasm module")),
        502,
        "neither an ELF executable nor a script",
    )
    .await;
    s.bad_init(
        "init: a zip archive",
        init_body(&b64(b"PK\x03\x04 zipped")),
        502,
        "Zip archives are not supported",
    )
    .await;
    s.bad_init(
        "init: truncated JSON",
        r#"{"value": {"code": "#,
        400,
        "Error unmarshaling",
    )
    .await;
    s.bad_init(
        "init: malformed JSON",
        "this is not JSON",
        400,
        "Error unmarshaling",
    )
    .await;
    s.bad_init("init: empty body", "", 400, "Error unmarshaling")
        .await;
    s.bad_init(
        "init: `value` a string",
        r#"{"value": "a string"}"#,
        400,
        "Error unmarshaling",
    )
    .await;
    s.bad_init(
        "init: `code` a number",
        r#"{"value": {"code": 12345, "binary": true}}"#,
        400,
        "Error unmarshaling",
    )
    .await;
    s.bad_init(
        "init: `binary` a string",
        json!({"value": {"code": b64(ECHO.as_bytes()), "binary": "yes"}}).to_string(),
        400,
        "Error unmarshaling",
    )
    .await;
    s.bad_init(
        "init: no code",
        r#"{"value": {"binary": true}}"#,
        502,
        msg::MISSING_CODE,
    )
    .await;

    let proxy = Proxy::start(&[]);
    let huge = format!(
        r#"{{"value": {{"binary": true, "code": "{}"}}}}"#,
        "A".repeat(MAX_INIT_BODY_BYTES)
    );
    let got = oversized(&proxy, "/init", huge.into_bytes()).await;
    assert_eq!(proxy.init_script(ECHO, json!({})).await.status, 200);
    s.expect_error(
        "init: body over the init limit",
        &proxy,
        got,
        413,
        "over the limit",
    )
    .await;

    let got = proxy.init_script(ECHO, json!({})).await;
    s.expect_error("init: a second init", &proxy, got, 403, msg::REINIT)
        .await;

    s.unrunnable(
        "run: an ELF header with nothing behind it",
        b"\x7fELF\x02\x01\x01\0 garbage",
        "could not be started",
    )
    .await;
    s.unrunnable(
        "run: a script whose interpreter does not exist",
        b"#!/no/such/interpreter\necho '{}'\n",
        "could not be started",
    )
    .await;
}

async fn mode(proxy: &Proxy, mode: &str, ms: u64) -> Reply {
    proxy
        .run(
            json!({"mode": mode}),
            json!({"deadline": deadline_in(ms), "activation_id": mode}),
        )
        .await
}

async fn misbehaving_actions(s: &mut Suite) {
    let proxy = Proxy::start(&["--max-output-bytes", "4194304", "--concurrency", "4"]);
    let r = proxy.init_script(MODES, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let t = Instant::now();
    let got = mode(&proxy, "loop", 1_000).await;
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    s.expect_error(
        "action: loops forever",
        &proxy,
        got,
        502,
        "exceeded its time limits",
    )
    .await;

    let t = Instant::now();
    let got = mode(&proxy, "sleep", 1_000).await;
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    s.expect_error(
        "action: sleeps past its deadline",
        &proxy,
        got,
        502,
        "exceeded its time limits",
    )
    .await;

    let got = mode(&proxy, "closeout", 1_000).await;
    s.expect_error(
        "action: closes its output and hangs",
        &proxy,
        got,
        502,
        "exceeded its time limits",
    )
    .await;

    let got = mode(&proxy, "flood", 60_000).await;
    s.expect_error(
        "action: writes 100 MiB to stdout",
        &proxy,
        got,
        502,
        "wrote more than 4194304 bytes to stdout",
    )
    .await;

    let got = mode(&proxy, "errflood", 60_000).await;
    s.expect_error(
        "action: writes 100 MiB to stderr",
        &proxy,
        got,
        502,
        "wrote more than 4194304 bytes to stderr",
    )
    .await;

    for (name, m) in [
        ("action: result is invalid UTF-8", "utf8"),
        ("action: result is invalid JSON", "badjson"),
        ("action: result holds a lone surrogate escape", "surrogate"),
        ("action: result is not an object", "scalar"),
        ("action: exits 0 without output", "nothing"),
        ("action: exits 3 without output", "exit3"),
        ("action: recurses until its shell's limit", "recurse"),
    ] {
        let got = mode(&proxy, m, 30_000).await;
        s.expect_error(name, &proxy, got, 502, msg::NOT_DICT_RESULT)
            .await;
    }

    let got = mode(&proxy, "ill", 30_000).await;
    s.expect_error(
        "action: dies of SIGILL",
        &proxy,
        got,
        502,
        "signal 4 (SIGILL)",
    )
    .await;

    let got = mode(&proxy, "abort", 30_000).await;
    s.expect_error("action: aborts", &proxy, got, 502, "signal 6 (SIGABRT)")
        .await;

    let got = mode(&proxy, "big", 30_000).await;
    s.expect_error(
        "action: result over 1 MiB",
        &proxy,
        got,
        413,
        "exceeded the allowed length",
    )
    .await;

    let got = mode(&proxy, "helpers", 30_000).await;
    let helper = common::pid_from(&proxy, "helpers.pid").await;
    assert!(!common::running(helper).await, "a helper outlived its run");
    s.expect_ok(
        "action: leaves eight helpers running",
        &proxy,
        got,
        json!({"helpers": 8}),
    )
    .await;

    run_requests(s, &proxy).await;
}

async fn run_requests(s: &mut Suite, proxy: &Proxy) {
    for (name, body, status, fragment) in [
        (
            "run: truncated JSON",
            r#"{"value": {"a": [1, 2"#,
            400,
            "Error unmarshaling",
        ),
        (
            "run: malformed JSON",
            "{value: 1}",
            400,
            "Error unmarshaling",
        ),
        (
            "run: `value` a string",
            r#"{"value": "a string"}"#,
            404,
            msg::NOT_DICT_ARG,
        ),
        (
            "run: body is an array",
            r#"[{"value": {}}]"#,
            400,
            "Error unmarshaling",
        ),
        (
            "run: parameters hold a lone surrogate escape",
            r#"{"value": {"s": "\ud800"}}"#,
            400,
            "Error unmarshaling",
        ),
        (
            "run: deadline long past",
            r#"{"value": {}, "deadline": "1000"}"#,
            502,
            "time limits of 0 milliseconds",
        ),
    ] {
        let got = proxy.post("/run", body).await;
        s.expect_error(name, proxy, got, status, fragment).await;
    }

    let got = proxy
        .post(
            "/run",
            json!({"value": {"s": "x".repeat(1024 * 1024)}}).to_string(),
        )
        .await;
    s.expect_error(
        "run: parameters over 1 MiB",
        proxy,
        got,
        413,
        "parameters are",
    )
    .await;

    let got = oversized(proxy, "/run", vec![b' '; MAX_RUN_BODY_BYTES + 4096]).await;
    s.expect_error(
        "run: body over the run limit",
        proxy,
        got,
        413,
        "over the limit",
    )
    .await;

    let got = proxy.post("/run", "").await;
    s.expect_ok("run: empty body (empty parameters)", proxy, got, json!({}))
        .await;

    let got = proxy
        .post(
            "/run",
            json!({"value": {"k": 2}, "deadline": u64::MAX.to_string()}).to_string(),
        )
        .await;
    s.expect_ok(
        "run: deadline at the end of time",
        proxy,
        got,
        json!({"k": 2}),
    )
    .await;

    let got = proxy
        .post(
            "/run",
            json!({"value": {"k": 3}, "deadline": "soon", "namespace": {"o": [1]},
                "odd=key": "v", "nul": "a\u{0}b"})
            .to_string(),
        )
        .await;
    s.expect_ok("run: odd context fields", proxy, got, json!({"k": 3}))
        .await;

    let got = proxy.post("/no/such/route", "{}").await;
    s.expect_error("unknown route", proxy, got, 404, "Not found")
        .await;

    let got = proxy.get("/run").await;
    s.expect_error("GET /run", proxy, got, 405, "Method not allowed")
        .await;

    let got = Proxy::start(&[]).run(json!({}), json!({})).await;
    s.expect_error(
        "run: before any init",
        proxy,
        got,
        502,
        msg::NOT_INITIALIZED,
    )
    .await;
}

async fn queue_limit(s: &mut Suite) {
    let proxy = Proxy::start(&["--concurrency", "1", "--max-queue", "1"]);
    let script =
        "#!/bin/sh\nread -r p\ncase \"$p\" in *nap*) sleep 1 ;; esac\nprintf '%s\\n' \"$p\"\n";
    assert_eq!(proxy.init_script(script, json!({})).await.status, 200);
    let (a, b, c) = tokio::join!(
        proxy.run(json!({"nap": 1}), json!({})),
        proxy.run(json!({"nap": 2}), json!({})),
        proxy.run(json!({"nap": 3}), json!({}))
    );
    let mut replies = vec![a, b, c];
    replies.sort_by_key(|r| r.status);
    assert_eq!(
        replies.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 429]
    );
    let refused = replies.pop().unwrap();
    s.expect_error(
        "run: past the queue",
        &proxy,
        refused,
        429,
        "Too many requests",
    )
    .await;
}

async fn actionloop_cases(s: &mut Suite) {
    let proxy = Proxy::start(&["--exec-mode", "actionloop", "--max-output-bytes", "1048576"]);
    let r = proxy.init_script(LOOP, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = proxy.run(json!({"warm": 1}), json!({})).await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"warm": 1})),
        "{}",
        r.text
    );

    for (name, m, ms, status, fragment) in [
        (
            "actionloop: result line is not JSON",
            "garbage",
            30_000,
            502,
            msg::NOT_DICT_RESULT,
        ),
        (
            "actionloop: the process is killed mid-run",
            "die",
            30_000,
            502,
            "signal 9 (SIGKILL)",
        ),
        (
            "actionloop: the process exits mid-run",
            "exit",
            30_000,
            502,
            "returning a result",
        ),
        (
            "actionloop: hangs past its deadline",
            "hang",
            1_000,
            502,
            "exceeded its time limits",
        ),
        (
            "actionloop: floods stdout",
            "flood",
            60_000,
            502,
            "wrote more than 1048576 bytes to stdout",
        ),
        (
            "actionloop: a 4 MiB result line",
            "longline",
            60_000,
            413,
            "exceeded the allowed length",
        ),
    ] {
        let got = mode(&proxy, m, ms).await;
        s.expect_error(name, &proxy, got, status, fragment).await;
    }
}

#[tokio::test]
async fn hostile_inputs_get_precise_errors_and_nothing_else_breaks() {
    let t = Instant::now();
    let mut s = Suite::new().await;
    init_cases(&mut s).await;
    misbehaving_actions(&mut s).await;
    queue_limit(&mut s).await;
    actionloop_cases(&mut s).await;

    println!("wow-proxy hostile cases:");
    for (i, c) in s.cases.iter().enumerate() {
        println!("{:3}. {c}", i + 1);
    }
    println!("total: {} cases in {:?}", s.cases.len(), t.elapsed());
    let distinct: HashSet<&String> = s.cases.iter().collect();
    assert_eq!(distinct.len(), s.cases.len(), "case names repeat");
    assert!(s.cases.len() >= 45, "only {} cases ran", s.cases.len());
}
