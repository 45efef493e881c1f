//! The shared init-`env` / run-context table (`wow-protocol`'s `tests/shared/env_cases.rs`),
//! over HTTP against the executor: a guest that prints its whole WASI environment shows what
//! reached it. The proxy's suite runs the same table.

use crate::common::{Runtime, route, unique, wat};
use crate::env_cases::{ENV_CASES, Expect, decode_environ, relevant_only};

use serde_json::json;

/// Prints its environment (`NAME=value`, NUL-separated, as WASI's `environ_get` lays it out) as
/// hex: `{"environ":"<hex>"}`.
const PRINT_ENV: &str = r#"(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (data (i32.const 16) "0123456789abcdef")
  (data (i32.const 32) "{\"environ\":\"")
  (func (export "_start")
    (local $n i32) (local $i i32) (local $o i32) (local $b i32)
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 4)))
    (drop (call $get (i32.const 1024) (i32.const 8192)))
    (memory.copy (i32.const 65536) (i32.const 32) (i32.const 12))
    (local.set $o (i32.const 65548))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $b (i32.load8_u (i32.add (i32.const 8192) (local.get $i))))
        (i32.store8 (local.get $o)
          (i32.load8_u (i32.add (i32.const 16) (i32.shr_u (local.get $b) (i32.const 4)))))
        (i32.store8 offset=1 (local.get $o)
          (i32.load8_u (i32.add (i32.const 16) (i32.and (local.get $b) (i32.const 15)))))
        (local.set $o (i32.add (local.get $o) (i32.const 2)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.store8 (local.get $o) (i32.const 34))
    (i32.store8 offset=1 (local.get $o) (i32.const 125))
    (i32.store8 offset=2 (local.get $o) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (i32.sub (i32.add (local.get $o) (i32.const 3)) (i32.const 65536)))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

#[tokio::test]
async fn the_shared_env_table_against_the_executor() {
    let rt = Runtime::start(&["--quiet-guests"]);
    let wasm = wat(PRINT_ENV);
    for case in ENV_CASES {
        let id = format!("env-{}", unique());
        let (s, v) = rt.init_with_env(&id, &wasm, case.init_env_json()).await;
        if s != 200 {
            case.check_refusal("init", s, v["error"].as_str().unwrap_or_default());
            // A refused init keeps no sandbox: the id is free for a good one.
            assert_eq!(rt.init(&id, &wasm).await.0, 200);
            continue;
        }
        let (s, v) = rt.run_with(&id, case.run_body(json!({}))).await;
        rt.post(&route(&id, "destroy"), "").await;
        if s != 200 {
            case.check_refusal("run", s, v["error"].as_str().unwrap_or_default());
            continue;
        }
        let environ = decode_environ(v["environ"].as_str().expect("environ"));
        assert!(
            matches!(case.expect, Expect::Env(_)),
            "{}: accepted; the guest saw {:?}",
            case.title,
            relevant_only(&environ)
        );
        case.check_env(&environ);
    }
}
