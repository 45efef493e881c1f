//! A guest's stdout: never a panic; an accepted result is sendable as is.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wow_protocol::{Failure, MAX_PAYLOAD_BYTES, check_result, parse_output, split_output};

fuzz_target!(|data: &[u8]| {
    let (logs, line) = split_output(data);
    assert!(data.starts_with(logs));
    assert!(logs.is_empty() || logs.ends_with(b"\n"));
    assert!(!line.contains(&b'\n'));
    let (logs2, result) = parse_output(data);
    assert_eq!(logs, logs2);
    assert_eq!(result, check_result(line));
    for candidate in [result, check_result(data)] {
        match candidate {
            Ok(r) => {
                assert!(r.len() <= MAX_PAYLOAD_BYTES);
                let text = std::str::from_utf8(r).expect("accepted result is UTF-8");
                let v: Value = serde_json::from_str(text).expect("accepted result is JSON");
                assert!(v.is_object() || v.is_array());
            }
            Err(f) => assert!(matches!(f, Failure::NotDictResult | Failure::TooLarge(_))),
        }
    }
});
