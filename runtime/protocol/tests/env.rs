//! The shared init-`env` / run-context table (`shared/env_cases.rs`) against the protocol's own
//! parsing and merge, which both servers use; their integration tests run the same table over
//! HTTP.

#[path = "shared/env_cases.rs"]
mod env_cases;

use env_cases::{ENV_CASES, Expect};
use wow_protocol::{InitRequest, RunRequest};

#[test]
fn every_case_of_the_shared_table() {
    for case in ENV_CASES {
        let init = serde_json::json!({"value": {"code": "AA==", "binary": true,
            "env": case.init_env_json()}});
        let init = match InitRequest::parse(init.to_string().as_bytes()) {
            Ok(init) => init,
            Err(f) => {
                case.check_refusal("init", f.status(), &f.message());
                continue;
            }
        };
        let body = case.run_body(serde_json::json!({}));
        let run = match RunRequest::parse(body.to_string().as_bytes()) {
            Ok(run) => run,
            Err(f) => {
                case.check_refusal("run", f.status(), &f.message());
                continue;
            }
        };
        assert!(matches!(case.expect, Expect::Env(_)), "{}", case.title);
        case.check_env(&run.action_env(&init.env_vars()));
    }
}
