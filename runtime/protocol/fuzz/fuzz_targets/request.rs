//! `/run` and `/init` bodies: never a panic; what is accepted keeps the parsers' promises.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wow_protocol::{InitRequest, MAX_PAYLOAD_BYTES, RunRequest};

fn env_ok(name: &str, value: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0']) && !value.contains('\0')
}

fuzz_target!(|data: &[u8]| {
    match RunRequest::parse(data) {
        Ok(req) => {
            let params = req.params.get();
            assert!(params.len() <= MAX_PAYLOAD_BYTES);
            let v: Value = serde_json::from_str(params).expect("accepted params are JSON");
            assert!(v.is_object() || v.is_array());
            for (name, value) in req.env_vars() {
                assert!(name.starts_with("__OW_") && env_ok(&name, &value));
            }
            let _ = req.deadline_ms();
            let _ = req.activation_id();
        }
        Err(f) => {
            assert!(matches!(f.status(), 400 | 404 | 413), "{f:?}");
            let _: Value = serde_json::from_str(&f.body()).expect("error bodies are JSON");
        }
    }
    match InitRequest::parse(data) {
        Ok(req) => {
            for (name, value) in req.env_vars() {
                assert!(env_ok(&name, &value));
            }
            if let Ok(code) = req.code() {
                assert!(!code.is_empty());
            }
            let again = serde_json::to_vec(&req).expect("serialises");
            assert_eq!(InitRequest::parse(&again).expect("reads back"), req);
        }
        Err(f) => assert!(matches!(f.status(), 400 | 413), "{f:?}"),
    }
});
