//! The wasmer engine behind the seam: same results as native, env/args, deadline, memory cap,
//! budget, output cap, isolation, artifact round trip, and a few cheap measurements
//! (`cargo test -- --nocapture` prints them).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wow_protocol::Failure;
use wow_runtime::admission::{Charge, MemoryBudget};
use wow_runtime::engines::wasmer::{EngineConfig, Wasmer};
use wow_runtime::engines::{Code, Engine, Exit, Prepared, RunEnd, RunIo};

const PAGE: u64 = 65536;
const CAP: u64 = 256 << 20;

fn wasm_path(name: &str) -> PathBuf {
    super::artifacts().wasm(name)
}

/// The workloads are built elsewhere; wait a while for them rather than fail at once.
fn read_workload(name: &str) -> Vec<u8> {
    let path = wasm_path(name);
    for _ in 0..600 {
        if let Ok(b) = std::fs::read(&path) {
            return b;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("{} is missing", path.display());
}

fn engine() -> Wasmer {
    Wasmer::new(&EngineConfig::default()).expect("engine")
}

fn charge(bytes: u64) -> Charge {
    MemoryBudget::new(1 << 40).try_charge(bytes).unwrap()
}

fn io(stdin: impl Into<Bytes>, deadline: Duration) -> RunIo {
    RunIo {
        stdin: stdin.into(),
        args: vec!["action".into()],
        env: vec![],
        stdout_cap: 1 << 20,
        stderr_cap: 1 << 20,
        deadline: Instant::now() + deadline,
    }
}

fn prepare(engine: &Wasmer, wasm: &[u8]) -> (Arc<dyn Code>, Arc<dyn Prepared>) {
    let code = engine.compile(wasm).expect("compiles");
    let pre = engine
        .prepare(&code)
        .unwrap_or_else(|f| panic!("prepare: {f}"));
    (code, pre)
}

async fn run_once(pre: &Arc<dyn Prepared>, initial: u64, io: RunIo) -> RunEnd {
    let inst = pre
        .instantiate(CAP, charge(initial))
        .await
        .unwrap_or_else(|f| panic!("instantiate: {f}"));
    inst.run(io).await
}

fn result_line(out: &[u8]) -> Vec<u8> {
    wow_protocol::split_output(out).1.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_give_the_native_result_lines() {
    let engine = engine();
    let mut checked = 0;
    for name in ["noop", "hash", "prime", "sleep", "json", "image"] {
        let wasm = read_workload(name);
        let t = Instant::now();
        let (code, pre) = prepare(&engine, &wasm);
        println!("compile {name}: {:?}", t.elapsed());
        for (w, params) in super::cases().into_iter().filter(|(w, _)| *w == name) {
            let stdin = params.to_string();
            let end = run_once(
                &pre,
                code.initial_memory_bytes(),
                io(stdin.clone(), Duration::from_secs(60)),
            )
            .await;
            assert!(
                matches!(end.exit, Exit::Returned),
                "{w} {stdin}: {:?} stderr {}",
                end.exit,
                String::from_utf8_lossy(&end.stderr)
            );
            let wasm_line = result_line(&end.stdout);
            let native_line = super::native_line(w, stdin.as_bytes());
            assert!(
                !native_line.is_empty(),
                "{w} {stdin}: native printed nothing"
            );
            assert_eq!(
                String::from_utf8_lossy(&wasm_line),
                String::from_utf8_lossy(&native_line),
                "{w} {stdin}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, super::cases().len());
}

/// A WASI command that writes its argv and environ buffers (NUL-separated) to stdout.
const ENV_ARGS_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $es (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $eg (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $as (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $ag (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (drop (call $as (i32.const 16) (i32.const 20)))
    (drop (call $ag (i32.const 1024) (i32.const 4096)))
    (call $out (i32.const 4096) (i32.load (i32.const 20)))
    (drop (call $es (i32.const 24) (i32.const 28)))
    (drop (call $eg (i32.const 2048) (i32.const 8192)))
    (call $out (i32.const 8192) (i32.load (i32.const 28)))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_and_args_reach_the_guest() {
    let engine = engine();
    let (_, pre) = prepare(&engine, &wat::parse_str(ENV_ARGS_WAT).unwrap());
    let mut run_io = io("", Duration::from_secs(10));
    run_io.args = vec!["myaction".into(), "--flag".into()];
    run_io.env = vec![
        ("__OW_ACTION_NAME".into(), "/ns/myaction".into()),
        ("GREETING".into(), "héllo wörld".into()),
    ];
    let end = run_once(&pre, PAGE, run_io).await;
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    let out = String::from_utf8(end.stdout.to_vec()).unwrap();
    assert_eq!(
        out,
        "myaction\0--flag\0__OW_ACTION_NAME=/ns/myaction\0GREETING=héllo wörld\0"
    );
    // A second instance of the same code sees only its own.
    let mut run_io = io("", Duration::from_secs(10));
    run_io.args = vec!["other".into()];
    run_io.env = vec![("A".into(), "1".into())];
    let end = run_once(&pre, PAGE, run_io).await;
    assert_eq!(&end.stdout[..], b"other\0A=1\0");
}

const LOOP_WAT: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_stops_a_busy_loop_and_releases_the_thread() {
    let engine = engine();
    let (_, pre) = prepare(&engine, &wat::parse_str(LOOP_WAT).unwrap());
    for _ in 0..3 {
        let t = Instant::now();
        let end = run_once(&pre, PAGE, io("", Duration::from_millis(300))).await;
        let took = t.elapsed();
        assert!(matches!(end.exit, Exit::Timeout), "{:?}", end.exit);
        println!("busy loop, deadline 300 ms: Timeout after {took:?}");
        // Generous: the machine is shared and loaded; a missed deadline runs forever.
        assert!(took < Duration::from_millis(300 + 1000), "{took:?}");
    }
    // The threads are free: a normal run works, and so do runs on both cores at once.
    let (code, noop) = prepare(&engine, &read_workload("noop"));
    let end = run_once(
        &noop,
        code.initial_memory_bytes(),
        io(r#"{"x":1}"#, Duration::from_secs(10)),
    )
    .await;
    assert_eq!(result_line(&end.stdout), br#"{"x":1}"#);
    let t = Instant::now();
    let (a, b) = tokio::join!(
        run_once(&pre, PAGE, io("", Duration::from_millis(200))),
        run_once(&pre, PAGE, io("", Duration::from_millis(200))),
    );
    assert!(matches!(a.exit, Exit::Timeout) && matches!(b.exit, Exit::Timeout));
    println!("two busy loops at once, deadline 200 ms: {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_millis(200 + 1000),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_cuts_a_wasi_sleep_short() {
    let engine = engine();
    let (code, pre) = prepare(&engine, &read_workload("sleep"));
    let t = Instant::now();
    let end = run_once(
        &pre,
        code.initial_memory_bytes(),
        io(r#"{"ms":5000}"#, Duration::from_millis(300)),
    )
    .await;
    assert!(matches!(end.exit, Exit::Timeout), "{:?}", end.exit);
    println!(
        "sleep 5000 ms, deadline 300 ms: Timeout after {:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() < Duration::from_millis(300 + 1000),
        "{:?}",
        t.elapsed()
    );
    // Nothing printed: the guest did not see its sleep end normally and carry on.
    assert!(end.stdout.is_empty(), "{:?}", end.stdout);
}

/// Grows by `$n` pages: prints `G` (grown) or `R` (refused, -1), then traps on refusal.
const GROW_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "GR")
  (func $say (param $p i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $grow (param $n i32)
    (if (i32.eq (memory.grow (local.get $n)) (i32.const -1))
      (then (call $say (i32.const 65)) (unreachable))
      (else (call $say (i32.const 64)))))
  (func (export "_start")
    (call $grow (i32.const 1))
    (call $grow (i32.const 1))
    (call $grow (i32.const 4))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_grow_past_the_cap_returns_minus_one() {
    let engine = engine();
    let (_, pre) = prepare(&engine, &wat::parse_str(GROW_WAT).unwrap());
    // Cap of 4 pages: 1 + 1 + 1 fit, then 3 + 4 do not.
    let cap = 4 * PAGE;
    let inst = pre.instantiate(cap, charge(PAGE)).await.unwrap();
    let end = inst.run(io("", Duration::from_secs(10))).await;
    assert_eq!(&end.stdout[..], b"GGR");
    assert!(end.over_budget.is_none());
    match end.exit {
        Exit::Failed(Failure::ActionFailed(m)) => {
            assert_eq!(
                m,
                format!(
                    "The action exceeded its memory limit of {cap} bytes (it asked for {}) and was aborted.",
                    7 * PAGE
                )
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_growth_is_charged_to_the_budget_and_refused_past_it() {
    let engine = engine();
    let (_, pre) = prepare(&engine, &wat::parse_str(GROW_WAT).unwrap());
    // The budget holds 2 pages: the first growth fits, the second does not (the cap would).
    let budget = MemoryBudget::new(2 * PAGE);
    let inst = pre
        .instantiate(64 * PAGE, budget.try_charge(PAGE).unwrap())
        .await
        .unwrap();
    assert_eq!(budget.used(), PAGE);
    let end = inst.run(io("", Duration::from_secs(10))).await;
    assert_eq!(&end.stdout[..], b"GR");
    assert_eq!(end.over_budget, Some(3 * PAGE as usize));
    assert!(matches!(end.exit, Exit::Failed(_)));
    // Given back when the instance is gone.
    assert_eq!(budget.used(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_memory_over_the_cap_fails_at_instantiate() {
    let engine = engine();
    let wasm = wat::parse_str(r#"(module (memory (export "memory") 10) (func (export "_start")))"#)
        .unwrap();
    let (code, pre) = prepare(&engine, &wasm);
    assert_eq!(code.initial_memory_bytes(), 10 * PAGE);
    match pre.instantiate(5 * PAGE, charge(0)).await {
        Err(Failure::InitFailed(m)) => assert_eq!(
            m,
            format!(
                "Its initial memory of {} bytes is over the memory limit of {} bytes.",
                10 * PAGE,
                5 * PAGE
            )
        ),
        Err(f) => panic!("{f}"),
        Ok(_) => panic!("instantiated over the cap"),
    }
    // At the cap it is fine.
    assert!(pre.instantiate(10 * PAGE, charge(10 * PAGE)).await.is_ok());
}

const FLOOD_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 100))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_capped() {
    let engine = engine();
    let (_, pre) = prepare(&engine, &wat::parse_str(FLOOD_WAT).unwrap());
    let mut run_io = io("", Duration::from_secs(10));
    run_io.stdout_cap = 1000;
    run_io.stderr_cap = 250;
    let end = run_once(&pre, PAGE, run_io).await;
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(end.stdout.len(), 1000);
    assert_eq!(end.stderr.len(), 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_of_one_prepared_get_their_own_output() {
    let engine = engine();
    let (code, pre) = prepare(&engine, &read_workload("noop"));
    let initial = code.initial_memory_bytes();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let pre = pre.clone();
        tasks.push(tokio::spawn(async move {
            // noop echoes its input as serde_json writes it: keys sorted.
            let stdin = format!(r#"{{"pad":"{}","run":{i}}}"#, "x".repeat(i * 1000));
            let end = run_once(&pre, initial, io(stdin.clone(), Duration::from_secs(30))).await;
            (stdin, end)
        }));
    }
    for t in tasks {
        let (stdin, end) = t.await.unwrap();
        assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
        assert_eq!(String::from_utf8_lossy(&result_line(&end.stdout)), stdin);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialized_artifact_loads_and_runs() {
    let engine = engine();
    let wasm = read_workload("hash");
    let code = engine.compile(&wasm).unwrap();
    let bytes = engine.serialize(&*code, &wasm).unwrap();
    // SAFETY: bytes from `serialize` of this very engine.
    let loaded = unsafe { engine.load(&bytes) }.unwrap();
    assert_eq!(loaded.initial_memory_bytes(), code.initial_memory_bytes());
    let pre = engine.prepare(&loaded).unwrap();
    let stdin = r#"{"input":"paper","iterations":5000}"#;
    let end = run_once(
        &pre,
        loaded.initial_memory_bytes(),
        io(stdin, Duration::from_secs(30)),
    )
    .await;
    assert_eq!(
        result_line(&end.stdout),
        super::native_line("hash", stdin.as_bytes())
    );
    // Garbage is refused, not run.
    assert!(unsafe { engine.load(b"not an artifact at all") }.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_that_are_not_wasi_commands_are_refused_at_prepare() {
    let engine = engine();
    for wat in [
        r#"(module (memory (export "memory") 1))"#,
        r#"(module (memory (export "memory") 1) (func (export "_start") (param i32)))"#,
        r#"(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))) (memory (export "memory") 1) (func (export "_start")))"#,
    ] {
        let code = engine.compile(&wat::parse_str(wat).unwrap()).unwrap();
        assert!(
            matches!(engine.prepare(&code), Err(Failure::InitFailed(_))),
            "{wat}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_are_worded_for_the_client() {
    let engine = engine();
    let cases = [
        (
            r#"(module (memory (export "memory") 1)
                 (func $f (call $f)) (func (export "_start") (call $f)))"#,
            "The action overflowed its call stack and was aborted.",
        ),
        (
            r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
            "The action trapped: ",
        ),
    ];
    for (wat, wording) in cases {
        let (_, pre) = prepare(&engine, &wat::parse_str(wat).unwrap());
        let end = run_once(&pre, PAGE, io("", Duration::from_secs(10))).await;
        match end.exit {
            Exit::Failed(Failure::ActionFailed(m)) => {
                println!("{m}");
                assert!(m.starts_with(wording), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
