//! The shared init-`env` / run-context table (`wow-protocol`'s `tests/shared/env_cases.rs`),
//! over HTTP against the proxy in spawn mode: an action that prints its whole environment shows
//! what reached it. The executor's suite runs the same table.

use crate::common::Proxy;
use crate::env_cases::{ENV_CASES, Expect, decode_environ, relevant_only};

use serde_json::json;

/// Prints its environment (`NAME=value`, NUL-separated, as hex) as the result.
const PRINT_ENV: &str = r#"#!/bin/sh
printf '{"environ":"%s"}\n' "$(env -0 | od -An -v -tx1 | tr -d ' \n')"
"#;

#[tokio::test]
async fn the_shared_env_table_against_the_proxy() {
    for case in ENV_CASES {
        let proxy = Proxy::start(&[]);
        let r = proxy.init_script(PRINT_ENV, case.init_env_json()).await;
        if r.status != 200 {
            case.check_refusal("init", r.status, r.error());
            // A refused init leaves the proxy open for a good one.
            assert_eq!(proxy.init_script(PRINT_ENV, json!({})).await.status, 200);
            continue;
        }
        let body = case.run_body(json!({}));
        let r = proxy.post("/run", body.to_string()).await;
        if r.status != 200 {
            case.check_refusal("run", r.status, r.error());
            continue;
        }
        let environ = decode_environ(r.body["environ"].as_str().expect("environ"));
        assert!(
            matches!(case.expect, Expect::Env(_)),
            "{}: accepted; the action saw {:?}",
            case.title,
            relevant_only(&environ)
        );
        case.check_env(&environ);
    }
}
