//! The workload inputs both the engine suite (`tests/engines`) and the HTTP suite (`tests/it`)
//! check results on: defaults, real parameters and parameters a workload must refuse.

use serde_json::{Value, json};

pub fn cases() -> Vec<(&'static str, Value)> {
    vec![
        ("noop", json!({})),
        ("noop", json!({"a": [1, 2, {"b": "ü"}]})),
        ("hash", json!({})),
        ("hash", json!({"input": "paper", "iterations": 5000})),
        ("hash", json!({"iterations": "many"})),
        ("prime", json!({})),
        ("prime", json!({"n": 1_000_000})),
        ("prime", json!({"n": -5})),
        ("sleep", json!({"ms": 5})),
        ("json", json!({})),
        ("json", json!({"items": 5000, "seed": 7})),
        ("image", json!({})),
        ("image", json!({"width": 300, "height": 200})),
        ("image", json!({"width": "wide"})),
    ]
}
