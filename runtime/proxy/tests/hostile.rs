//! Hostile input against the real `wow-proxy` over HTTP: broken requests, code that is not an
//! executable, actions that misbehave, in both exec modes.
//!
//! Every case checks the precise status and `{"error": …}` message, then that the proxy process
//! is alive, that its action (or, after a refused `/init`, a freshly installed one) answers a
//! `noop` correctly, and that a bystander proxy started before the case still answers. Each case
//! is its own test, `hostile_inputs::<name>`, on proxies of its own, and prints its number and
//! title when it runs; `hostile_inputs::catalogue` prints the numbered list and the count
//! (`--nocapture` shows them). A new case is one more entry in the table at the end.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Proxy, Reply, SENTINEL, alive, deadline_in};
use serde_json::{Value, json};
use wow_protocol::{MAX_INIT_BODY_BYTES, MAX_RUN_BODY_BYTES, auth, msg};

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

/// One case's bystander: a proxy started before the case that must still answer after it.
struct Suite {
    bystander: Proxy,
    /// The case's title, as listed.
    case: &'static str,
    /// Whether the case checked that nothing else broke (every case ends so).
    checked: bool,
}

impl Suite {
    /// Prints the case's number and title, then starts its bystander.
    async fn start(test: &str, case: &'static str) -> Suite {
        println!("{:3}. {case}", number(test));
        let bystander = Proxy::start(&[]);
        let r = bystander.init_script(ECHO, json!({})).await;
        assert_eq!(r.status, 200, "bystander init: {}", r.text);
        Suite {
            bystander,
            case,
            checked: false,
        }
    }

    /// Asserts an error answer, then that `proxy` and the bystander still serve.
    async fn expect_error(&mut self, proxy: &Proxy, got: Reply, status: u16, fragment: &str) {
        let case = self.case;
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
        self.still_fine(proxy).await;
    }

    async fn expect_ok(&mut self, proxy: &Proxy, got: Reply, body: Value) {
        assert_eq!(
            (got.status, &got.body),
            (200, &body),
            "{}: {}",
            self.case,
            got.text
        );
        self.still_fine(proxy).await;
    }

    async fn still_fine(&mut self, proxy: &Proxy) {
        let case = self.case;
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
        assert!(!self.checked, "{case}: checked twice");
        self.checked = true;
    }

    /// Ends the case: it must have checked, once, that nothing else broke.
    fn done(self) {
        assert!(
            self.checked,
            "{}: never checked that nothing else broke",
            self.case
        );
    }

    /// A refused `/init` on a fresh proxy; then the echo installs there, for `still_fine`.
    async fn bad_init(&mut self, body: impl Into<reqwest::Body>, status: u16, fragment: &str) {
        let case = self.case;
        let proxy = Proxy::start(&[]);
        let got = proxy.post("/init", body).await;
        let r = proxy.init_script(ECHO, json!({})).await;
        assert_eq!(r.status, 200, "{case}: init stays open: {}", r.text);
        self.expect_error(&proxy, got, status, fragment).await;
    }

    /// An `/init` that succeeds but whose every run fails; then the echo, on a fresh proxy.
    async fn unrunnable(&mut self, code: &[u8], fragment: &str) {
        let case = self.case;
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
        self.expect_error(&healthy, got, 502, fragment).await;
        assert!(alive(proxy.pid()));
    }
}

/// A proxy running `MODES`, with a 4 MiB output cap and four runs at a time.
async fn modes_proxy() -> Proxy {
    let proxy = Proxy::start(&["--max-output-bytes", "4194304", "--concurrency", "4"]);
    let r = proxy.init_script(MODES, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    proxy
}

/// A warm action-loop proxy running `LOOP`, with a 1 MiB output cap.
async fn loop_proxy() -> Proxy {
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
    proxy
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

async fn mode(proxy: &Proxy, mode: &str, ms: u64) -> Reply {
    proxy
        .run(
            json!({"mode": mode}),
            json!({"deadline": deadline_in(ms), "activation_id": mode}),
        )
        .await
}

/// A proxy that requires the bearer token `token` (from a file), with no action yet.
fn protected_proxy(token: &str) -> Proxy {
    // A file per proxy: the cases run at once, and a file being rewritten reads empty.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hostile-token-{}-{n}", std::process::id()));
    std::fs::write(&file, format!("{token}\n")).unwrap();
    Proxy::start(&["--auth-token-file", file.to_str().unwrap()])
}

/// A request with an `Authorization` header (`None`: without one).
async fn with_auth(
    proxy: &Proxy,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: String,
) -> Reply {
    let mut request = proxy
        .client
        .request(method.parse().unwrap(), format!("{}{path}", proxy.base))
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        headers,
    }
}

/// Every route of a protected proxy refuses `auth` (401, `message`) while `/health` answers; the
/// refused `/init` installed nothing: the right token then installs and runs the echo. Returns
/// the refused `/init`'s answer, and a proxy without a token, serving the echo, for
/// `expect_error`'s checks.
async fn refused_without(auth: Option<&str>, message: &str) -> (Reply, Proxy) {
    let proxy = protected_proxy("the-right-token");
    let init = init_body(&b64(ECHO.as_bytes()));
    let got = with_auth(&proxy, "POST", "/init", auth, init.clone()).await;
    for (method, path) in [("POST", "/run"), ("GET", "/run"), ("GET", "/no/such/route")] {
        let r = with_auth(&proxy, method, path, auth, r#"{"value":{}}"#.into()).await;
        assert_eq!((r.status, r.error()), (401, message), "{method} {path}");
        assert_eq!(r.headers["www-authenticate"], "Bearer");
    }
    assert_eq!(
        with_auth(&proxy, "GET", "/health", auth, String::new())
            .await
            .status,
        200
    );
    let right = Some("Bearer the-right-token");
    let r = with_auth(&proxy, "POST", "/init", right, init).await;
    assert_eq!(
        r.status, 200,
        "the refused init installed something: {}",
        r.text
    );
    let r = with_auth(&proxy, "POST", "/run", right, r#"{"value":{"k":1}}"#.into()).await;
    assert_eq!((r.status, &r.body), (200, &json!({"k": 1})), "{}", r.text);
    assert!(alive(proxy.pid()));
    let open = Proxy::start(&[]);
    assert_eq!(open.init_script(ECHO, json!({})).await.status, 200);
    (got, open)
}

/// Writes a log line to stdout and stderr, then echoes its parameters.
const LOGS_A_LINE: &str = r#"#!/bin/sh
read -r p
echo 'a log line'
echo 'an error line' >&2
printf '%s\n' "$p"
"#;
/// The action-loop counterpart: per envelope, a log line per stream, then its `value` on fd 3.
const LOOP_LOGS_A_LINE: &str = r#"#!/bin/sh
while IFS= read -r line; do
  echo 'a log line'
  echo 'an error line' >&2
  printf '%s\n' "$line" | sed 's/^{"value":\(.*\),"activation_id".*$/\1/;s/^{"value":\(.*\)}$/\1/' >&3
done
"#;
/// An activation id that would end the activation's logs early and forge a line of its own.
const FORGING_ID: &str = "x\nXXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\nforged line";

/// Runs `script` (as `mode`) once with [`FORGING_ID`] and checks the proxy's logs: one end
/// marker per stream, no forged line, the id escaped in the prefix. Returns the proxy (serving
/// the echo) and the run's answer.
async fn forged_logs(mode: &str, script: &str) -> (Proxy, Reply) {
    assert_eq!(FORGING_ID.lines().nth(1), Some(SENTINEL));
    let proxy = Proxy::start(&["--exec-mode", mode]);
    assert_eq!(proxy.init_script(script, json!({})).await.status, 200);
    let got = proxy
        .run(json!({}), json!({"activation_id": FORGING_ID}))
        .await;
    // The marker as a line of its own on both streams: the activation's logs are all written.
    // (`wait_logs` would stop at the escaped id, which holds the marker's text.)
    let start = Instant::now();
    while ![proxy.stdout(), proxy.stderr()]
        .iter()
        .all(|text| text.lines().any(|l| l == SENTINEL))
    {
        assert!(start.elapsed() < Duration::from_secs(10), "no end marker");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (stream, text, line) in [
        ("stdout", proxy.stdout(), "a log line"),
        ("stderr", proxy.stderr(), "an error line"),
    ] {
        let markers = text.lines().filter(|l| *l == SENTINEL).count();
        assert_eq!(markers, 1, "{stream}: {text}");
        assert!(
            !text.lines().any(|l| l.starts_with("forged")),
            "{stream}: {text}"
        );
        let escaped = format!("[x\\nXXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\\nforged line] {line}");
        assert!(text.lines().any(|l| l == escaped), "{stream}: {text}");
    }
    (proxy, got)
}

/// A case's number: its place in the table, from 1.
fn number(test: &str) -> usize {
    1 + CASES
        .iter()
        .position(|(t, _)| *t == test)
        .unwrap_or_else(|| panic!("{test} is not in the table"))
}

/// Makes each entry `name: "title" => |s| { … }` the test `hostile_inputs::name`: it starts a
/// bystander as `s` (a `Suite`), runs the body, which ends with `s.expect_error` or
/// `s.expect_ok` (or `s.bad_init`, `s.unrunnable`), and checks that it did. `CASES` lists the
/// entries in order.
macro_rules! hostile_cases {
    ($($test:ident: $title:literal => |$s:ident| $body:block)*) => {
        /// Every case's test name and title, in the table's order.
        const CASES: &[(&str, &str)] = &[$((stringify!($test), $title)),*];

        mod hostile_inputs {
            use super::*;

            /// The numbered list of cases and their count, printed in one piece.
            #[test]
            fn catalogue() {
                let mut list = String::from("wow-proxy hostile cases:\n");
                for (i, (_, title)) in CASES.iter().enumerate() {
                    list += &format!("{:3}. {title}\n", i + 1);
                }
                println!("{list}total: {} cases", CASES.len());
                let distinct: HashSet<&str> = CASES.iter().map(|(_, title)| *title).collect();
                assert_eq!(distinct.len(), CASES.len(), "case names repeat");
                assert!(CASES.len() >= 45, "only {} cases", CASES.len());
            }

            $(
                #[tokio::test]
                async fn $test() {
                    let mut $s = Suite::start(stringify!($test), $title).await;
                    $body
                    $s.done();
                }
            )*
        }
    };
}

hostile_cases! {
    init_invalid_base64: "init: invalid base64" => |s| {
        s.bad_init(init_body("@@ not base64 @@"), 400, "not valid base64")
            .await;
    }

    init_neither_elf_nor_script: "init: bytes that are neither ELF nor #!" => |s| {
        s.bad_init(
            init_body(&b64(b"\0asm\x01\0\0\0 a wasm module")),
            502,
            "neither an ELF executable nor a script",
        )
        .await;
    }

    init_zip_archive: "init: a zip archive" => |s| {
        s.bad_init(
            init_body(&b64(b"PK\x03\x04 zipped")),
            502,
            "Zip archives are not supported",
        )
        .await;
    }

    init_truncated_json: "init: truncated JSON" => |s| {
        s.bad_init(r#"{"value": {"code": "#, 400, "Error unmarshaling")
            .await;
    }

    init_malformed_json: "init: malformed JSON" => |s| {
        s.bad_init("this is not JSON", 400, "Error unmarshaling").await;
    }

    init_empty_body: "init: empty body" => |s| {
        s.bad_init("", 400, "Error unmarshaling").await;
    }

    init_value_a_string: "init: `value` a string" => |s| {
        s.bad_init(r#"{"value": "a string"}"#, 400, "Error unmarshaling")
            .await;
    }

    init_code_a_number: "init: `code` a number" => |s| {
        s.bad_init(
            r#"{"value": {"code": 12345, "binary": true}}"#,
            400,
            "Error unmarshaling",
        )
        .await;
    }

    init_binary_a_string: "init: `binary` a string" => |s| {
        s.bad_init(
            json!({"value": {"code": b64(ECHO.as_bytes()), "binary": "yes"}}).to_string(),
            400,
            "Error unmarshaling",
        )
        .await;
    }

    init_no_code: "init: no code" => |s| {
        s.bad_init(r#"{"value": {"binary": true}}"#, 502, msg::MISSING_CODE)
            .await;
    }

    init_oversized_body: "init: body over the init limit" => |s| {
        let proxy = Proxy::start(&[]);
        let huge = format!(
            r#"{{"value": {{"binary": true, "code": "{}"}}}}"#,
            "A".repeat(MAX_INIT_BODY_BYTES)
        );
        let got = oversized(&proxy, "/init", huge.into_bytes()).await;
        assert_eq!(proxy.init_script(ECHO, json!({})).await.status, 200);
        s.expect_error(&proxy, got, 413, "over the limit").await;
    }

    init_twice: "init: a second init" => |s| {
        let proxy = Proxy::start(&[]);
        assert_eq!(proxy.init_script(ECHO, json!({})).await.status, 200);
        let got = proxy.init_script(ECHO, json!({})).await;
        s.expect_error(&proxy, got, 403, msg::REINIT).await;
    }

    run_elf_header_only: "run: an ELF header with nothing behind it" => |s| {
        s.unrunnable(b"\x7fELF\x02\x01\x01\0 garbage", "could not be started")
            .await;
    }

    run_missing_interpreter: "run: a script whose interpreter does not exist" => |s| {
        s.unrunnable(b"#!/no/such/interpreter\necho '{}'\n", "could not be started")
            .await;
    }

    action_loops: "action: loops forever" => |s| {
        let proxy = modes_proxy().await;
        let t = Instant::now();
        let got = mode(&proxy, "loop", 1_000).await;
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
        s.expect_error(&proxy, got, 502, "exceeded its time limits").await;
    }

    action_sleeps_past_deadline: "action: sleeps past its deadline" => |s| {
        let proxy = modes_proxy().await;
        let t = Instant::now();
        let got = mode(&proxy, "sleep", 1_000).await;
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
        s.expect_error(&proxy, got, 502, "exceeded its time limits").await;
    }

    action_closes_output_and_hangs: "action: closes its output and hangs" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "closeout", 1_000).await;
        s.expect_error(&proxy, got, 502, "exceeded its time limits").await;
    }

    action_floods_stdout: "action: writes 100 MiB to stdout" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "flood", 60_000).await;
        s.expect_error(&proxy, got, 502, "wrote more than 4194304 bytes to stdout")
            .await;
    }

    action_floods_stderr: "action: writes 100 MiB to stderr" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "errflood", 60_000).await;
        s.expect_error(&proxy, got, 502, "wrote more than 4194304 bytes to stderr")
            .await;
    }

    action_result_invalid_utf8: "action: result is invalid UTF-8" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "utf8", 30_000).await;
        s.expect_error(&proxy, got, 502, msg::NOT_DICT_RESULT).await;
    }

    action_result_invalid_json: "action: result is invalid JSON" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "badjson", 30_000).await;
        s.expect_error(&proxy, got, 502, msg::NOT_DICT_RESULT).await;
    }

    action_result_lone_surrogate: "action: result holds a lone surrogate escape" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "surrogate", 30_000).await;
        s.expect_error(&proxy, got, 502, msg::NOT_DICT_RESULT).await;
    }

    action_result_not_an_object: "action: result is not an object" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "scalar", 30_000).await;
        s.expect_error(&proxy, got, 502, msg::NOT_DICT_RESULT).await;
    }

    action_exits_0_without_output: "action: exits 0 without output" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "nothing", 30_000).await;
        s.expect_error(&proxy, got, 502, msg::NOT_DICT_RESULT).await;
    }

    action_exits_3_without_output: "action: exits 3 without output" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "exit3", 30_000).await;
        s.expect_error(&proxy, got, 502, msg::NOT_DICT_RESULT).await;
    }

    action_recurses: "action: recurses until its shell's limit" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "recurse", 30_000).await;
        s.expect_error(&proxy, got, 502, msg::NOT_DICT_RESULT).await;
    }

    action_dies_of_sigill: "action: dies of SIGILL" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "ill", 30_000).await;
        s.expect_error(&proxy, got, 502, "signal 4 (SIGILL)").await;
    }

    action_aborts: "action: aborts" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "abort", 30_000).await;
        s.expect_error(&proxy, got, 502, "signal 6 (SIGABRT)").await;
    }

    action_result_over_1_mib: "action: result over 1 MiB" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "big", 30_000).await;
        s.expect_error(&proxy, got, 413, "exceeded the allowed length").await;
    }

    action_leaves_helpers: "action: leaves eight helpers running" => |s| {
        let proxy = modes_proxy().await;
        let got = mode(&proxy, "helpers", 30_000).await;
        let helper = common::pid_from(&proxy, "helpers.pid").await;
        assert!(!common::running(helper).await, "a helper outlived its run");
        s.expect_ok(&proxy, got, json!({"helpers": 8})).await;
    }

    run_truncated_json: "run: truncated JSON" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy.post("/run", r#"{"value": {"a": [1, 2"#).await;
        s.expect_error(&proxy, got, 400, "Error unmarshaling").await;
    }

    run_malformed_json: "run: malformed JSON" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy.post("/run", "{value: 1}").await;
        s.expect_error(&proxy, got, 400, "Error unmarshaling").await;
    }

    run_value_a_string: "run: `value` a string" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy.post("/run", r#"{"value": "a string"}"#).await;
        s.expect_error(&proxy, got, 404, msg::NOT_DICT_ARG).await;
    }

    run_body_an_array: "run: body is an array" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy.post("/run", r#"[{"value": {}}]"#).await;
        s.expect_error(&proxy, got, 400, "Error unmarshaling").await;
    }

    run_parameters_lone_surrogate: "run: parameters hold a lone surrogate escape" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy.post("/run", r#"{"value": {"s": "\ud800"}}"#).await;
        s.expect_error(&proxy, got, 400, "Error unmarshaling").await;
    }

    run_deadline_long_past: "run: deadline long past" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy
            .post("/run", r#"{"value": {}, "deadline": "1000"}"#)
            .await;
        s.expect_error(&proxy, got, 502, "time limits of 0 milliseconds").await;
    }

    run_parameters_over_1_mib: "run: parameters over 1 MiB" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy
            .post(
                "/run",
                json!({"value": {"s": "x".repeat(1024 * 1024)}}).to_string(),
            )
            .await;
        s.expect_error(&proxy, got, 413, "parameters are").await;
    }

    run_oversized_body: "run: body over the run limit" => |s| {
        let proxy = modes_proxy().await;
        let got = oversized(&proxy, "/run", vec![b' '; MAX_RUN_BODY_BYTES + 4096]).await;
        s.expect_error(&proxy, got, 413, "over the limit").await;
    }

    run_empty_body: "run: empty body (empty parameters)" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy.post("/run", "").await;
        s.expect_ok(&proxy, got, json!({})).await;
    }

    run_deadline_end_of_time: "run: deadline at the end of time" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy
            .post(
                "/run",
                json!({"value": {"k": 2}, "deadline": u64::MAX.to_string()}).to_string(),
            )
            .await;
        s.expect_ok(&proxy, got, json!({"k": 2})).await;
    }

    run_odd_context: "run: odd context fields" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy
            .post(
                "/run",
                json!({"value": {"k": 3}, "deadline": "soon", "namespace": {"o": [1]},
                    "odd=key": "v", "nul": "a\u{0}b"})
                .to_string(),
            )
            .await;
        s.expect_ok(&proxy, got, json!({"k": 3})).await;
    }

    unknown_route: "unknown route" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy.post("/no/such/route", "{}").await;
        s.expect_error(&proxy, got, 404, "Not found").await;
    }

    get_run: "GET /run" => |s| {
        let proxy = modes_proxy().await;
        let got = proxy.get("/run").await;
        s.expect_error(&proxy, got, 405, "Method not allowed").await;
    }

    run_before_init: "run: before any init" => |s| {
        let proxy = modes_proxy().await;
        let got = Proxy::start(&[]).run(json!({}), json!({})).await;
        s.expect_error(&proxy, got, 502, msg::NOT_INITIALIZED).await;
    }

    run_past_the_queue: "run: past the queue" => |s| {
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
        s.expect_error(&proxy, refused, 429, "Too many requests").await;
    }

    actionloop_result_not_json: "actionloop: result line is not JSON" => |s| {
        let proxy = loop_proxy().await;
        let got = mode(&proxy, "garbage", 30_000).await;
        s.expect_error(&proxy, got, 502, msg::NOT_DICT_RESULT).await;
    }

    actionloop_killed_mid_run: "actionloop: the process is killed mid-run" => |s| {
        let proxy = loop_proxy().await;
        let got = mode(&proxy, "die", 30_000).await;
        s.expect_error(&proxy, got, 502, "signal 9 (SIGKILL)").await;
    }

    actionloop_exits_mid_run: "actionloop: the process exits mid-run" => |s| {
        let proxy = loop_proxy().await;
        let got = mode(&proxy, "exit", 30_000).await;
        s.expect_error(&proxy, got, 502, "returning a result").await;
    }

    actionloop_hangs: "actionloop: hangs past its deadline" => |s| {
        let proxy = loop_proxy().await;
        let got = mode(&proxy, "hang", 1_000).await;
        s.expect_error(&proxy, got, 502, "exceeded its time limits").await;
    }

    actionloop_floods_stdout: "actionloop: floods stdout" => |s| {
        let proxy = loop_proxy().await;
        let got = mode(&proxy, "flood", 60_000).await;
        s.expect_error(&proxy, got, 502, "wrote more than 1048576 bytes to stdout")
            .await;
    }

    actionloop_long_result_line: "actionloop: a 4 MiB result line" => |s| {
        let proxy = loop_proxy().await;
        let got = mode(&proxy, "longline", 60_000).await;
        s.expect_error(&proxy, got, 413, "exceeded the allowed length").await;
    }

    auth_no_token: "auth: every route but /health without the bearer token" => |s| {
        let (got, open) = refused_without(None, auth::MISSING).await;
        s.expect_error(&open, got, 401, auth::MISSING).await;
    }

    auth_wrong_token: "auth: a wrong bearer token" => |s| {
        let (got, open) = refused_without(Some("Bearer the-wrong-token"), auth::INVALID).await;
        s.expect_error(&open, got, 401, auth::INVALID).await;
    }

    auth_token_prefix: "auth: the right token cut short" => |s| {
        let (got, open) = refused_without(Some("Bearer the-right-toke"), auth::INVALID).await;
        s.expect_error(&open, got, 401, auth::INVALID).await;
    }

    auth_token_not_bearer: "auth: the right token, not as a bearer token" => |s| {
        let (got, open) = refused_without(Some("the-right-token"), auth::INVALID).await;
        s.expect_error(&open, got, 401, auth::INVALID).await;
    }

    init_env_reserved_actionloop: "init: env sets __OW_ACTIONLOOP" => |s| {
        let body = json!({"value": {"binary": true, "code": b64(ECHO.as_bytes()),
            "env": {"A": "1", "__OW_ACTIONLOOP": "1"}}});
        s.bad_init(body.to_string(), 400, "__OW_ACTIONLOOP, a name reserved").await;
    }

    init_env_reserved_wait_for_ack: "init: env sets __OW_WAIT_FOR_ACK" => |s| {
        let body = json!({"value": {"binary": true, "code": b64(ECHO.as_bytes()),
            "env": {"__OW_WAIT_FOR_ACK": "1"}}});
        s.bad_init(body.to_string(), 400, "__OW_WAIT_FOR_ACK, a name reserved").await;
    }

    run_context_reserved_actionloop: "run: context field actionloop (__OW_ACTIONLOOP)" => |s| {
        let proxy = Proxy::start(&[]);
        assert_eq!(proxy.init_script(ECHO, json!({})).await.status, 200);
        let got = proxy.run(json!({}), json!({"actionloop": "1"})).await;
        s.expect_error(&proxy, got, 400, "__OW_ACTIONLOOP, a name reserved").await;
    }

    actionloop_context_reserved_wait_for_ack:
        "actionloop: context field Wait_For_Ack (__OW_WAIT_FOR_ACK)" => |s| {
        let proxy = loop_proxy().await;
        let got = proxy.run(json!({}), json!({"Wait_For_Ack": "1"})).await;
        s.expect_error(&proxy, got, 400, "__OW_WAIT_FOR_ACK, a name reserved").await;
    }

    run_activation_id_forges_logs:
        "run: an activation id with a newline and a forged end-of-activation marker" => |s| {
        let (proxy, got) = forged_logs("spawn", LOGS_A_LINE).await;
        s.expect_ok(&proxy, got, json!({})).await;
    }

    actionloop_activation_id_forges_logs:
        "actionloop: an activation id with a newline and a forged end-of-activation marker" => |s| {
        let (proxy, got) = forged_logs("actionloop", LOOP_LOGS_A_LINE).await;
        s.expect_ok(&proxy, got, json!({})).await;
    }
}
