//! Property tests of the protocol's parsers: on arbitrary bytes and on well-formed requests that
//! were then mutated, nothing panics, what is accepted keeps its promises, and a request built by
//! `run_body` comes back as it was sent.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wow_protocol::{
    Failure, InitRequest, MAX_PAYLOAD_BYTES, RunContext, RunRequest, check_result, parse_output,
    run_body, split_output,
};

/// Strings that stress JSON and environment handling: NUL, `=`, quotes, escapes, non-ASCII,
/// lone-surrogate-looking text, newlines.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[a-zA-Z_=\\x00\"\\\\\n\r\t ]{0,12}",
        Just("__OW_".to_string()),
        Just("A=B".to_string()),
        Just("\0".to_string()),
        Just("\\ud800".to_string()),
        Just("λ☃😀".to_string()),
    ]
}

/// JSON numbers that survive a text round trip exactly (serde_json is built without
/// `float_roundtrip`, so arbitrary doubles may come back one ulp off).
fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1000i32..1000).prop_map(|n| json!(f64::from(n) / 4.0)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(tricky_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Parameters: an object or an array.
fn json_params() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::btree_map(tricky_string(), json_value(), 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        prop::collection::vec(json_value(), 0..6).prop_map(Value::Array),
    ]
}

fn run_context() -> impl Strategy<Value = RunContext> {
    (
        tricky_string(),
        tricky_string(),
        tricky_string(),
        tricky_string(),
        tricky_string(),
        prop::option::of(tricky_string()),
    )
        .prop_map(
            |(namespace, action_name, activation_id, transaction_id, deadline, api_key)| {
                RunContext {
                    namespace,
                    action_name,
                    activation_id,
                    transaction_id,
                    deadline,
                    api_key,
                }
            },
        )
}

/// A well-formed `/run` or `/init` body, as JSON text.
fn request_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (json_params(), run_context()).prop_map(|(p, c)| run_body(&p, &c)),
        (
            json_value(),
            prop::collection::btree_map(tricky_string(), json_value(), 0..4)
        )
            .prop_map(|(v, extra)| {
                let mut m: Map<String, Value> = extra.into_iter().collect();
                m.insert("value".into(), v);
                serde_json::to_vec(&Value::Object(m)).unwrap()
            }),
        (
            tricky_string(),
            prop::option::of(json_value()),
            json_value(),
            prop::collection::btree_map(tricky_string(), json_value(), 0..4)
        )
            .prop_map(|(name, code, binary, env)| {
                let env: Map<String, Value> = env.into_iter().collect();
                let mut v = json!({"name": name, "main": "main", "binary": binary, "env": env});
                if let Some(code) = code {
                    v["code"] = code;
                }
                serde_json::to_vec(&json!({ "value": v })).unwrap()
            }),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"[".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\\u".to_vec()),
        Just(b"\\ud800".to_vec()),
        Just(b",".to_vec()),
        Just(b":".to_vec()),
        Just(b"null".to_vec()),
        Just(b"1e999999".to_vec()),
        Just(b"-0".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\"value\":".to_vec()),
        Just(b"\"deadline\":\"18446744073709551615\"".to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), token).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Flip(i, b) if len > 0 => bytes[i % len] ^= b | 1,
            Mutation::Flip(..) => {}
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            Mutation::Insert(i, t) => {
                let at = i % (len + 1);
                bytes.splice(at..at, t.iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let at = i % len;
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Delete(..) => {}
        }
    }
    bytes
}

fn env_name_ok(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

/// Everything `RunRequest::parse` promises about a request it accepted, or about its refusal.
fn check_run_request(body: &[u8]) {
    match RunRequest::parse(body) {
        Ok(req) => {
            let params = req.params.get();
            assert!(params.len() <= MAX_PAYLOAD_BYTES);
            let v: Value = serde_json::from_str(params)
                .unwrap_or_else(|e| panic!("accepted params are not JSON ({e}): {params:?}"));
            assert!(v.is_object() || v.is_array(), "params {params:?}");
            for (name, value) in req.env_vars() {
                assert!(name.starts_with("__OW_"), "{name:?}");
                assert!(env_name_ok(&name), "{name:?}");
                assert!(!value.contains('\0'), "{value:?}");
            }
            let _ = req.deadline_ms();
            let _ = req.activation_id();
        }
        Err(f) => {
            assert!(
                matches!(f.status(), 400 | 404 | 413),
                "unexpected refusal {f:?}"
            );
            let body: Value = serde_json::from_str(&f.body()).unwrap();
            assert!(body["error"].is_string());
        }
    }
}

fn check_init_request(body: &[u8]) {
    match InitRequest::parse(body) {
        Ok(req) => {
            for (name, value) in req.env_vars() {
                assert!(env_name_ok(&name), "{name:?}");
                assert!(!value.contains('\0'), "{value:?}");
            }
            match req.code() {
                Ok(code) => assert!(!code.is_empty()),
                Err(f) => assert_eq!(f.status(), 502),
            }
            // What was accepted serialises and reads back the same.
            let again = serde_json::to_vec(&req).unwrap();
            assert_eq!(InitRequest::parse(&again).unwrap(), req);
        }
        Err(f) => assert!(matches!(f.status(), 400 | 413), "unexpected refusal {f:?}"),
    }
}

/// What `check_result` accepts is sendable as is: UTF-8 JSON, an object or an array, in bounds.
fn check_output(stdout: &[u8]) {
    let (logs, line) = split_output(stdout);
    assert!(stdout.starts_with(logs));
    assert!(logs.is_empty() || logs.ends_with(b"\n"));
    assert!(
        !line.contains(&b'\n'),
        "result line {line:?} holds a newline"
    );
    let (logs2, result) = parse_output(stdout);
    assert_eq!(logs, logs2);
    assert_eq!(result, check_result(line));
    match result {
        Ok(r) => {
            assert!(r.len() <= MAX_PAYLOAD_BYTES);
            let text = std::str::from_utf8(r).expect("accepted result is UTF-8");
            let v: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("accepted result is not JSON ({e}): {text:?}"));
            assert!(v.is_object() || v.is_array(), "{text:?}");
        }
        Err(f) => assert!(
            matches!(f, Failure::NotDictResult | Failure::TooLarge(_)),
            "{f:?}"
        ),
    }
}

proptest! {
    // Integration tests have no source root for proptest's regression files; failures print
    // the minimal input instead.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_run_request(&bytes);
        check_init_request(&bytes);
        check_output(&bytes);
        let _ = check_result(&bytes);
    }

    #[test]
    fn mutated_requests_never_panic(
        body in request_body(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let bytes = mutate(body, &mutations);
        check_run_request(&bytes);
        check_init_request(&bytes);
        check_output(&bytes);
    }

    #[test]
    fn well_formed_requests_are_accepted(body in request_body()) {
        check_run_request(&body);
        check_init_request(&body);
    }

    #[test]
    fn run_body_round_trips_params_and_context(params in json_params(), ctx in run_context()) {
        let body = run_body(&params, &ctx);
        let req = RunRequest::parse(&body).unwrap();
        let back: Value = serde_json::from_str(req.params.get()).unwrap();
        prop_assert_eq!(back, params);
        let mut expected = BTreeMap::new();
        for (k, v) in [
            ("namespace", &ctx.namespace),
            ("action_name", &ctx.action_name),
            ("activation_id", &ctx.activation_id),
            ("transaction_id", &ctx.transaction_id),
            ("deadline", &ctx.deadline),
        ] {
            expected.insert(k.to_string(), v.clone());
        }
        if let Some(k) = &ctx.api_key {
            expected.insert("api_key".to_string(), k.clone());
        }
        prop_assert_eq!(&req.context, &expected);
        prop_assert_eq!(req.activation_id(), ctx.activation_id.as_str());
        for (name, value) in req.env_vars() {
            prop_assert!(env_name_ok(&name));
            prop_assert!(!value.contains('\0'));
            let key = name.trim_start_matches("__OW_").to_ascii_lowercase();
            prop_assert_eq!(Some(&value), expected.get(&key));
        }
    }

    #[test]
    fn env_names_never_hold_equals_or_nul(
        env in prop::collection::btree_map(tricky_string(), json_value(), 0..8),
        context in prop::collection::btree_map(tricky_string(), json_value(), 0..8),
    ) {
        let init = json!({"value": {"code": "AA==", "binary": true, "env": env}});
        let init = InitRequest::parse(init.to_string().as_bytes()).unwrap();
        for (name, value) in init.env_vars() {
            prop_assert!(env_name_ok(&name), "{:?}", name);
            prop_assert!(!value.contains('\0'), "{:?}", value);
        }
        // Every representable variable is kept.
        let kept = init.env_vars().len();
        let representable = env
            .iter()
            .filter(|(k, v)| env_name_ok(k) && !v.as_str().is_some_and(|s| s.contains('\0')))
            .count();
        prop_assert_eq!(kept, representable);

        let mut body: Map<String, Value> = context.into_iter().collect();
        body.insert("value".into(), json!({}));
        let run = RunRequest::parse(Value::Object(body).to_string().as_bytes()).unwrap();
        for (name, value) in run.env_vars() {
            prop_assert!(env_name_ok(&name), "{:?}", name);
            prop_assert!(!value.contains('\0'), "{:?}", value);
        }
    }

    #[test]
    fn the_result_is_the_last_line_and_logs_come_before(
        logs in prop::collection::vec(
            prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40),
            0..5,
        ),
        result in json_params(),
        trailing_newline in any::<bool>(),
    ) {
        let mut stdout = Vec::new();
        for l in &logs {
            stdout.extend_from_slice(l);
            stdout.push(b'\n');
        }
        let line = serde_json::to_vec(&result).unwrap();
        stdout.extend_from_slice(&line);
        if trailing_newline {
            stdout.push(b'\n');
        }
        let (got_logs, got) = parse_output(&stdout);
        prop_assert_eq!(got_logs, &stdout[..stdout.len() - line.len() - usize::from(trailing_newline)]);
        prop_assert_eq!(got.unwrap(), &line[..]);
        check_output(&stdout);
    }

    #[test]
    fn mutated_results_keep_the_result_promises(
        result in json_params(),
        mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let bytes = mutate(serde_json::to_vec(&result).unwrap(), &mutations);
        check_output(&bytes);
        let _ = check_result(&bytes);
    }
}

#[test]
fn lone_surrogates_in_a_result_are_refused() {
    // Valid JSON syntax, but no string can hold it: a client could not read the response.
    for line in [
        &br#"{"a":"\ud800"}"#[..],
        br#"["\udc00"]"#,
        br#"{"\ud83d":1}"#,
    ] {
        check_output(line);
    }
}

#[test]
fn init_env_with_unrepresentable_names_is_filtered() {
    let init = InitRequest::parse(
        br#"{"value": {"code": "AA==", "env": {"A=B": "1", "N\u0000UL": "2", "": "3", "V": "x\u0000y", "OK": "yes"}}}"#,
    )
    .unwrap();
    assert_eq!(init.env_vars(), vec![("OK".to_string(), "yes".to_string())]);
}
