//! The WAMR engine behind the seam: workload results equal the native builds', and every limit
//! does what the report says.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use wow_protocol::Failure;
use wow_runtime::admission::MemoryBudget;
use wow_runtime::engines::wamr::{EngineConfig, Wamr};
use wow_runtime::engines::{Engine, Exit, Prepared, RunEnd, RunIo};

/// The same workloads built without SIMD (`--no-default-features`, no `+simd128`), which this
/// WAMR's interpreter needs.
const WORKLOADS: [&str; 6] = ["noop", "hash", "prime", "sleep", "json", "image"];

fn engine() -> Arc<Wamr> {
    static E: OnceLock<Arc<Wamr>> = OnceLock::new();
    E.get_or_init(|| Arc::new(Wamr::new(&EngineConfig::default()).unwrap()))
        .clone()
}

fn wat(src: &str) -> Vec<u8> {
    wat::parse_str(src).unwrap()
}

fn prepare(wasm: &[u8]) -> Arc<dyn Prepared> {
    let e = engine();
    let code = e.compile(wasm).unwrap();
    e.prepare(&code).unwrap()
}

struct Run {
    stdin: Vec<u8>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdout_cap: usize,
    deadline: Duration,
    memory_bytes: u64,
    budget: u64,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            stdin: Vec::new(),
            args: vec!["action".into()],
            env: Vec::new(),
            stdout_cap: 1 << 20,
            deadline: Duration::from_secs(60),
            memory_bytes: 256 << 20,
            budget: 1 << 30,
        }
    }
}

async fn run(pre: &Arc<dyn Prepared>, r: Run) -> Result<RunEnd, Failure> {
    let budget = MemoryBudget::new(r.budget);
    let charge = budget.try_charge(0).unwrap();
    let inst = pre.instantiate(r.memory_bytes, charge).await?;
    Ok(inst
        .run(RunIo {
            stdin: Bytes::from(r.stdin),
            args: r.args,
            env: r.env,
            stdout_cap: r.stdout_cap,
            stderr_cap: 1 << 20,
            deadline: Instant::now() + r.deadline,
        })
        .await)
}

fn result_line(stdout: &[u8]) -> Value {
    let (_, line) = wow_protocol::split_output(stdout);
    serde_json::from_slice(line)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(stdout)))
}

fn run_native(workload: &str, params: &Value) -> Value {
    result_line(&super::native_line(workload, params.to_string().as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_results_equal_native_results() {
    let e = engine();
    let mut prepared = std::collections::HashMap::new();
    for w in WORKLOADS {
        let wasm = std::fs::read(super::artifacts().wasm_scalar(w)).unwrap();
        let code = e
            .compile(&wasm)
            .unwrap_or_else(|err| panic!("{w}: {err:#}"));
        prepared.insert(w, e.prepare(&code).unwrap_or_else(|f| panic!("{w}: {f:?}")));
    }
    for (w, params) in super::cases() {
        let native = run_native(w, &params);
        let end = run(
            &prepared[w],
            Run {
                stdin: params.to_string().into_bytes(),
                ..Run::default()
            },
        )
        .await
        .unwrap();
        assert!(
            matches!(end.exit, Exit::Returned),
            "{w} {params}: {:?} {:?}",
            end.exit,
            String::from_utf8_lossy(&end.stderr)
        );
        assert_eq!(
            result_line(&end.stdout),
            native,
            "{w} with {params}: wasm and native differ"
        );
    }
}

/// The modules built as the main workspace builds them (`+simd128`): this WAMR's interpreter has
/// no SIMD, so compile refuses them with a clear error; a module without v128 code loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simd_workload_builds_are_refused_at_compile_where_they_use_v128() {
    let e = engine();
    let mut refused = Vec::new();
    for w in WORKLOADS {
        let wasm = std::fs::read(super::artifacts().wasm(w)).unwrap();
        match e.compile(&wasm) {
            Ok(_) => {}
            Err(err) => {
                let msg = format!("{err:#}");
                assert!(msg.contains("SIMD"), "{w}: {msg}");
                refused.push(w);
            }
        }
    }
    println!("refused SIMD builds: {refused:?}");
    assert!(refused.contains(&"hash"), "blake3's v128 path: {refused:?}");
}

const ECHO_ENV_AND_ARGS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $es (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $eg (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $as (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $ag (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (drop (call $es (i32.const 16) (i32.const 20)))
    (drop (call $eg (i32.const 1024) (i32.const 4096)))
    (call $out (i32.const 4096) (i32.load (i32.const 20)))
    (drop (call $as (i32.const 16) (i32.const 20)))
    (drop (call $ag (i32.const 2048) (i32.const 8192)))
    (call $out (i32.const 8192) (i32.load (i32.const 20)))))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_and_args_reach_the_guest() {
    let pre = prepare(&wat(ECHO_ENV_AND_ARGS));
    let end = run(
        &pre,
        Run {
            args: vec!["prog".into(), "one".into()],
            env: vec![
                ("GREETING".into(), "hello".into()),
                ("B".into(), "2".into()),
            ],
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(&end.stdout[..], b"GREETING=hello\0B=2\0prog\0one\0");
}

const SPIN: &str = r#"(module (func (export "_start") (loop $l (br $l))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_stops_a_cpu_loop_and_releases_its_thread() {
    let pre = prepare(&wat(SPIN));
    let t = Instant::now();
    let end = run(
        &pre,
        Run {
            deadline: Duration::from_millis(300),
            ..Run::default()
        },
    )
    .await
    .unwrap();
    let took = t.elapsed();
    assert!(matches!(end.exit, Exit::Timeout), "{:?}", end.exit);
    assert!(took < Duration::from_millis(800), "{took:?}");
    // Two more at once on a two-worker runtime: the first one's thread is free again.
    let (a, b) = tokio::join!(
        run(
            &pre,
            Run {
                deadline: Duration::from_millis(200),
                ..Run::default()
            }
        ),
        run(
            &pre,
            Run {
                deadline: Duration::from_millis(200),
                ..Run::default()
            }
        )
    );
    assert!(matches!(a.unwrap().exit, Exit::Timeout));
    assert!(matches!(b.unwrap().exit, Exit::Timeout));
    let noop = prepare(&std::fs::read(super::artifacts().wasm_scalar("noop")).unwrap());
    let end = run(
        &noop,
        Run {
            stdin: b"{}".to_vec(),
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_stops_a_guest_sleeping_in_poll_oneoff() {
    let sleep = prepare(&std::fs::read(super::artifacts().wasm_scalar("sleep")).unwrap());
    let t = Instant::now();
    let end = run(
        &sleep,
        Run {
            stdin: br#"{"ms": 5000}"#.to_vec(),
            deadline: Duration::from_millis(300),
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(end.exit, Exit::Timeout), "{:?}", end.exit);
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
}

const GROW_THEN_TRAP: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (data (i32.const 100) "refused\n")
  (func (export "_start")
    (if (i32.eq (memory.grow (i32.const 100)) (i32.const -1))
      (then
        (i32.store (i32.const 0) (i32.const 100))
        (i32.store (i32.const 4) (i32.const 8))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    unreachable))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_grow_past_the_cap_returns_minus_one_and_the_trap_says_why() {
    let pre = prepare(&wat(GROW_THEN_TRAP));
    let cap = 4 * 65536;
    let end = run(
        &pre,
        Run {
            memory_bytes: cap,
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(&end.stdout[..], b"refused\n");
    assert!(end.over_budget.is_none());
    match end.exit {
        Exit::Failed(Failure::ActionFailed(m)) => {
            assert!(
                m.contains("exceeded its memory limit of 262144 bytes"),
                "{m}"
            );
            assert!(m.contains(&format!("asked for {}", 101 * 65536)), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // Within the cap the same growth succeeds (and the guest then traps on its own).
    let end = run(
        &pre,
        Run {
            memory_bytes: 200 * 65536,
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(&end.stdout[..], b"");
    match end.exit {
        Exit::Failed(Failure::ActionFailed(m)) => {
            assert!(m.contains("trapped: unreachable"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_memory_over_the_cap_fails_at_instantiate() {
    let pre = prepare(&wat(r#"(module (memory 10) (func (export "_start")))"#));
    match run(
        &pre,
        Run {
            memory_bytes: 4 * 65536,
            ..Run::default()
        },
    )
    .await
    {
        Err(Failure::InitFailed(m)) => assert!(m.contains("initial memory of 655360 bytes"), "{m}"),
        Err(other) => panic!("{other:?}"),
        Ok(end) => panic!("{:?}", end.exit),
    }
}

const GROW_THEN_WRITE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (func (export "_start")
    (drop (memory.grow (i32.const 20)))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 8)))))
"#;

/// WAMR has no hook on memory.grow: growth is charged to the budget at the guest's next host
/// call (here fd_write), which then stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_growth_is_charged_at_the_next_host_call() {
    let pre = prepare(&wat(GROW_THEN_WRITE));
    let end = run(
        &pre,
        Run {
            budget: 10 * 65536,
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(end.over_budget, Some(21 * 65536));
    assert!(
        matches!(end.exit, Exit::Failed(Failure::ActionFailed(_))),
        "{:?}",
        end.exit
    );
    let end = run(
        &pre,
        Run {
            budget: 30 * 65536,
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(end.over_budget, None);
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
}

const FLOOD: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 1000))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_past_the_cap_is_dropped() {
    let pre = prepare(&wat(FLOOD));
    let end = run(
        &pre,
        Run {
            stdout_cap: 4096,
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(end.stdout.len(), 4096);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_of_one_prepared_each_get_their_own_output() {
    let noop = prepare(&std::fs::read(super::artifacts().wasm_scalar("noop")).unwrap());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let noop = noop.clone();
        tasks.push(tokio::spawn(async move {
            let params = json!({"run": i, "pad": "x".repeat(1000 * i)});
            let end = run(
                &noop,
                Run {
                    stdin: params.to_string().into_bytes(),
                    ..Run::default()
                },
            )
            .await
            .unwrap();
            assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
            assert_eq!(result_line(&end.stdout), params);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serialized_code_loads_and_runs() {
    let e = engine();
    let wasm = std::fs::read(super::artifacts().wasm_scalar("noop")).unwrap();
    let code = e.compile(&wasm).unwrap();
    let bytes = e.serialize(&*code, &wasm).unwrap();
    // SAFETY: bytes from serialize of this engine.
    let loaded = unsafe { e.load(&bytes) }.unwrap();
    assert_eq!(loaded.initial_memory_bytes(), code.initial_memory_bytes());
    let pre = e.prepare(&loaded).unwrap();
    let end = run(
        &pre,
        Run {
            stdin: br#"{"x":1}"#.to_vec(),
            ..Run::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(result_line(&end.stdout), json!({"x": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_exit_ends_the_run_as_returned() {
    let pre = prepare(&wat(r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (func (export "_start") (call $exit (i32.const 3)) unreachable))"#));
    let end = run(&pre, Run::default()).await.unwrap();
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_that_are_not_wasi_commands_fail_at_prepare() {
    let e = engine();
    let code = e
        .compile(&wat(r#"(module (func (export "main")))"#))
        .unwrap();
    assert!(matches!(e.prepare(&code), Err(Failure::InitFailed(_))));
    let code = e
        .compile(&wat(
            r#"(module (import "env" "f" (func)) (func (export "_start")))"#,
        ))
        .unwrap();
    match e.prepare(&code) {
        Err(Failure::InitFailed(m)) => assert!(m.contains("env::f"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}

/// Lists what the workloads import (for the report) and times compile, load and a warm noop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers() {
    let e = engine();
    for w in WORKLOADS {
        let wasm = std::fs::read(super::artifacts().wasm_scalar(w)).unwrap();
        let mut names: Vec<String> = Vec::new();
        for p in wasmparser::Parser::new(0).parse_all(&wasm) {
            if let wasmparser::Payload::ImportSection(r) = p.unwrap() {
                for i in r.into_imports() {
                    names.push(i.unwrap().name.to_string());
                }
            }
        }
        println!("{w} imports: {}", names.join(" "));
    }
    let hash = std::fs::read(super::artifacts().wasm_scalar("hash")).unwrap();
    let t = Instant::now();
    let code = e.compile(&hash).unwrap();
    println!(
        "compile hash.wasm (validate + rewrite + WAMR load): {:?}",
        t.elapsed()
    );
    let bytes = e.serialize(&*code, &hash).unwrap();
    let t = Instant::now();
    // SAFETY: bytes from serialize of this engine.
    let _loaded = unsafe { e.load(&bytes) }.unwrap();
    println!("load serialized hash artifact: {:?}", t.elapsed());

    let noop = prepare(&std::fs::read(super::artifacts().wasm_scalar("noop")).unwrap());
    let mut times = Vec::new();
    for _ in 0..200 {
        let budget = MemoryBudget::new(1 << 30);
        let inst = noop
            .instantiate(256 << 20, budget.try_charge(0).unwrap())
            .await
            .unwrap();
        let t = Instant::now();
        let end = inst
            .run(RunIo {
                stdin: Bytes::from_static(b"{}"),
                args: vec!["noop".into()],
                env: vec![],
                stdout_cap: 1 << 20,
                stderr_cap: 1 << 20,
                deadline: Instant::now() + Duration::from_secs(10),
            })
            .await;
        times.push(t.elapsed());
        assert!(matches!(end.exit, Exit::Returned));
    }
    times.sort();
    println!(
        "warm noop run (instance ready), median of 200: {:?}",
        times[100]
    );
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let end = run(
            &noop,
            Run {
                stdin: b"{}".to_vec(),
                ..Run::default()
            },
        )
        .await
        .unwrap();
        times.push(t.elapsed());
        assert!(matches!(end.exit, Exit::Returned));
    }
    times.sort();
    println!("noop instantiate + run, median of 200: {:?}", times[100]);
}

/// WAMR gives a module without `memory.grow` its initial memory as one large page; such a
/// module runs (there is no growth to cap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_never_grows_its_memory_runs() {
    let pre = prepare(&wat(r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 70000) "{\"ok\":true}\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 70000))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#));
    let end = run(&pre, Run::default()).await.expect("instantiates");
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(&end.stdout[..], b"{\"ok\":true}\n");
}
