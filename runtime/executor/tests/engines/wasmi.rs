//! The wasmi engine behind the seam: workload results equal the native builds', and the limits
//! (deadline, memory cap and budget, output cap) hold. Timings print with `--nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use wow_protocol::Failure;
use wow_runtime::admission::MemoryBudget;
use wow_runtime::engines::wasmi::{EngineConfig, Wasmi};
use wow_runtime::engines::{Engine, Exit, Prepared, RunEnd, RunIo};

const MIB: u64 = 1 << 20;
const CAP: u64 = 256 * MIB;

fn engine() -> Wasmi {
    Wasmi::new(&EngineConfig::default()).unwrap()
}

fn wasm_of(name: &str) -> Vec<u8> {
    let p = super::artifacts().wasm(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn prepare(e: &Wasmi, wasm: &[u8]) -> Arc<dyn Prepared> {
    let code = e.compile(wasm).unwrap();
    e.prepare(&code).unwrap()
}

fn io(stdin: impl Into<Bytes>, deadline: Duration) -> RunIo {
    RunIo {
        stdin: stdin.into(),
        args: vec!["action".into()],
        env: vec![],
        stdout_cap: 16 << 20,
        stderr_cap: 16 << 20,
        deadline: Instant::now() + deadline,
    }
}

async fn run_with(
    pre: &dyn Prepared,
    budget: &Arc<MemoryBudget>,
    memory: u64,
    io: RunIo,
) -> RunEnd {
    let charge = budget.try_charge(0).unwrap();
    let inst = pre.instantiate(memory, charge).await.unwrap();
    inst.run(io).await
}

async fn run(pre: &dyn Prepared, stdin: &str) -> RunEnd {
    let budget = MemoryBudget::new(4 << 30);
    run_with(
        pre,
        &budget,
        CAP,
        io(stdin.to_string(), Duration::from_secs(60)),
    )
    .await
}

fn last_line(out: &[u8]) -> Vec<u8> {
    wow_protocol::split_output(out).1.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_results_equal_native_results_byte_for_byte() {
    let e = engine();
    let mut prepared = std::collections::HashMap::new();
    for (name, params) in super::cases() {
        let pre = prepared
            .entry(name)
            .or_insert_with(|| prepare(&e, &wasm_of(name)))
            .clone();
        let stdin = params.to_string();
        let t = Instant::now();
        let end = run(&*pre, &stdin).await;
        let took = t.elapsed();
        assert!(
            matches!(end.exit, Exit::Returned),
            "{name} {stdin}: {:?}",
            end.exit
        );
        let native = super::native_line(name, stdin.as_bytes());
        let wasm = last_line(&end.stdout);
        assert!(
            !native.is_empty(),
            "{name} {stdin}: native printed no result"
        );
        assert_eq!(
            String::from_utf8_lossy(&wasm),
            String::from_utf8_lossy(&native),
            "{name} with {stdin}: wasm and native differ"
        );
        println!("{name} {stdin}: {took:?} under wasmi");
    }
}

/// Writes `FOO`'s value (looked up in the environment block) and then the whole argv block.
const ENV_ARGS_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esg (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $eg (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $asg (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $ag (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: count, 4: size, 16: iovec, 32: nwritten, 1024: pointers, 4096: strings
  (func $out (param $p i32) (param $n i32)
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (local.get $n))
    (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32))))
  (func (export "_start")
    (drop (call $esg (i32.const 0) (i32.const 4)))
    (drop (call $eg (i32.const 1024) (i32.const 4096)))
    (call $out (i32.const 4096) (i32.sub (i32.load (i32.const 4)) (i32.const 1)))
    (call $out (i32.const 60) (i32.const 1))
    (drop (call $asg (i32.const 0) (i32.const 4)))
    (drop (call $ag (i32.const 1024) (i32.const 8192)))
    (call $out (i32.const 8192) (i32.load (i32.const 4))))
  (data (i32.const 60) "|"))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_and_args_reach_the_guest() {
    let e = engine();
    let pre = prepare(&e, &wat::parse_str(ENV_ARGS_WAT).unwrap());
    let budget = MemoryBudget::new(1 << 30);
    let mut io = io("", Duration::from_secs(10));
    io.env = vec![("FOO".into(), "bar baz".into())];
    io.args = vec!["prog".into(), "first".into(), "ü".into()];
    let end = run_with(&*pre, &budget, CAP, io).await;
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(&end.stdout[..], "FOO=bar baz|prog\0first\0ü\0".as_bytes());
}

const LOOP_WAT: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_times_out_at_its_deadline_and_frees_the_worker() {
    let e = engine();
    let looping = prepare(&e, &wat::parse_str(LOOP_WAT).unwrap());
    let noop = prepare(&e, &wasm_of("noop"));
    let budget = MemoryBudget::new(1 << 30);

    let t = Instant::now();
    let end = run_with(&*looping, &budget, CAP, io("", Duration::from_millis(200))).await;
    let took = t.elapsed();
    assert!(matches!(end.exit, Exit::Timeout), "{:?}", end.exit);
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(
        took < Duration::from_millis(300),
        "stopped {took:?} after its start, deadline 200 ms"
    );
    println!("a 200 ms deadline stopped the loop after {took:?}");

    // Two endless loops on both workers: a third run still gets through, as they yield.
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let (l, b) = (looping.clone(), budget.clone());
            tokio::spawn(async move {
                run_with(&*l, &b, CAP, io("", Duration::from_millis(1500)))
                    .await
                    .exit
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let end = run_with(
        &*noop,
        &budget,
        CAP,
        io(r#"{"x":1}"#, Duration::from_secs(5)),
    )
    .await;
    let beside = t.elapsed();
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(last_line(&end.stdout), br#"{"x":1}"#);
    assert!(
        beside < Duration::from_millis(500),
        "noop beside two loops took {beside:?}"
    );
    for l in loops {
        assert!(matches!(l.await.unwrap(), Exit::Timeout));
    }
    println!("noop beside two endless loops on 2 workers: {beside:?}");

    // Afterwards the engine runs as before.
    let end = run_with(&*noop, &budget, CAP, io("{}", Duration::from_secs(5))).await;
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(budget.used(), 0);
}

/// Grows by `$pages`; on refusal writes "refused" and traps, else writes "granted".
fn grow_wat(initial: u32, pages: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") {initial})
  (func $out (param $p i32) (param $n i32)
    (i32.store (i32.const 16) (local.get $p))
    (i32.store (i32.const 20) (local.get $n))
    (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32))))
  (func (export "_start")
    (if (i32.eq (memory.grow (i32.const {pages})) (i32.const -1))
      (then (call $out (i32.const 100) (i32.const 8)) unreachable)
      (else (call $out (i32.const 200) (i32.const 8)))))
  (data (i32.const 100) "refused\n")
  (data (i32.const 200) "granted\n"))"#
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growth_past_the_cap_gets_minus_one_and_the_trap_says_memory() {
    let e = engine();
    let budget = MemoryBudget::new(1 << 30);
    let cap = 64 * 65536;
    // 1 + 64 pages > 64.
    let pre = prepare(&e, &grow_wat(1, 64));
    let end = run_with(&*pre, &budget, cap, io("", Duration::from_secs(10))).await;
    assert_eq!(&end.stdout[..], b"refused\n");
    assert!(end.over_budget.is_none());
    match end.exit {
        Exit::Failed(Failure::ActionFailed(m)) => assert_eq!(
            m,
            format!(
                "The action exceeded its memory limit of {cap} bytes (it asked for {}) and was aborted.",
                65 * 65536
            )
        ),
        other => panic!("{other:?}"),
    }
    // Within the cap it grows, and the budget is charged with it while the instance lives.
    let pre = prepare(&e, &grow_wat(1, 63));
    let inst = pre
        .instantiate(cap, budget.try_charge(65536).unwrap())
        .await
        .unwrap();
    assert_eq!(budget.used(), 65536);
    let end = inst.run(io("", Duration::from_secs(10))).await;
    assert_eq!(&end.stdout[..], b"granted\n");
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(budget.used(), 0, "the charge is given back with the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growth_the_budget_refuses_is_reported_as_over_budget() {
    let e = engine();
    // The cap would allow 65 pages; the budget has room for 10.
    let budget = MemoryBudget::new(10 * 65536);
    let pre = prepare(&e, &grow_wat(1, 64));
    let inst = pre
        .instantiate(CAP, budget.try_charge(65536).unwrap())
        .await
        .unwrap();
    let end = inst.run(io("", Duration::from_secs(10))).await;
    assert_eq!(&end.stdout[..], b"refused\n");
    assert_eq!(end.over_budget, Some(65 * 65536));
    assert!(matches!(end.exit, Exit::Failed(_)), "{:?}", end.exit);
    assert_eq!(budget.used(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_memory_over_the_cap_fails_at_instantiation() {
    let e = engine();
    let budget = MemoryBudget::new(1 << 30);
    let code = e.compile(&grow_wat(100, 1)).unwrap();
    assert_eq!(code.initial_memory_bytes(), 100 * 65536);
    let pre = e.prepare(&code).unwrap();
    let err = match pre
        .instantiate(10 * 65536, budget.try_charge(0).unwrap())
        .await
    {
        Err(f) => f,
        Ok(_) => panic!("instantiated over the cap"),
    };
    match err {
        Failure::InitFailed(m) => assert_eq!(
            m,
            format!(
                "Its initial memory of {} bytes is over the memory limit of {} bytes.",
                100 * 65536,
                10 * 65536
            )
        ),
        other => panic!("{other:?}"),
    }
    // An unexported memory is not seen at compile; the limiter refuses it at creation.
    let hidden = wat::parse_str(r#"(module (memory 100) (func (export "_start")))"#).unwrap();
    let code = e.compile(&hidden).unwrap();
    assert_eq!(code.initial_memory_bytes(), 0);
    let pre = e.prepare(&code).unwrap();
    let err = match pre
        .instantiate(10 * 65536, budget.try_charge(0).unwrap())
        .await
    {
        Err(f) => f,
        Ok(_) => panic!("instantiated over the cap"),
    };
    assert!(
        matches!(&err, Failure::InitFailed(m) if m.contains("over the memory limit")),
        "{err:?}"
    );
    assert_eq!(budget.used(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_past_the_cap_is_dropped() {
    let e = engine();
    // Writes 1000 bytes to stdout 10 times and 1000 to stderr once.
    let wasm = wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 1000))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    (drop (call $w (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 32)))))"#,
    )
    .unwrap();
    let pre = prepare(&e, &wasm);
    let budget = MemoryBudget::new(1 << 30);
    let mut io = io("", Duration::from_secs(10));
    io.stdout_cap = 2500;
    io.stderr_cap = 300;
    let end = run_with(&*pre, &budget, CAP, io).await;
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(end.stdout.len(), 2500);
    assert_eq!(end.stderr.len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_of_one_prepared_module_keep_their_own_output() {
    let e = engine();
    let pre = prepare(&e, &wasm_of("noop"));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let pre = pre.clone();
            tokio::spawn(async move {
                let stdin = json!({"run": i, "pad": "x".repeat(1000 * i)}).to_string();
                let end = run(&*pre, &stdin).await;
                (stdin, end)
            })
        })
        .collect();
    for t in tasks {
        let (stdin, end) = t.await.unwrap();
        assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
        assert_eq!(last_line(&end.stdout), stdin.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_sleeps_of_300_ms_overlap() {
    let e = engine();
    let pre = prepare(&e, &wasm_of("sleep"));
    let t = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let pre = pre.clone();
            tokio::spawn(async move { run(&*pre, r#"{"ms":300}"#).await })
        })
        .collect();
    for task in tasks {
        let end = task.await.unwrap();
        assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
        assert_eq!(last_line(&end.stdout), br#"{"slept_ms":300}"#);
    }
    let took = t.elapsed();
    println!("4 concurrent sleeps of 300 ms on 2 workers: {took:?}");
    // Blocking sleeps on 2 workers would take 600 ms at least.
    assert!(took < Duration::from_millis(550), "{took:?}");

    // A sleep past the deadline ends at the deadline.
    let budget = MemoryBudget::new(1 << 30);
    let t = Instant::now();
    let end = run_with(
        &*pre,
        &budget,
        CAP,
        io(r#"{"ms":5000}"#, Duration::from_millis(200)),
    )
    .await;
    assert!(matches!(end.exit, Exit::Timeout), "{:?}", end.exit);
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

/// A poll on two clocks takes the blocking path (in `block_in_place`): it still wakes at the
/// earlier clock with its one event, and stays within the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_on_two_clocks_wakes_at_the_earlier_one() {
    let wasm = wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; subscriptions at 0 and 48: userdata 7 / 8, clock (tag 0), monotonic (id 1), relative
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 30000000))
    (i64.store (i32.const 48) (i64.const 8))
    (i32.store (i32.const 64) (i32.const 1))
    (i64.store (i32.const 72) (i64.const 2000000000))
    ;; errno + '0' at 400, nevents + '0' at 401, first event's userdata + '0' at 402
    (i32.store8 (i32.const 400)
      (i32.add (i32.const 48) (call $poll (i32.const 0) (i32.const 200) (i32.const 2) (i32.const 300))))
    (i32.store8 (i32.const 401) (i32.add (i32.const 48) (i32.load (i32.const 300))))
    (i32.store8 (i32.const 402) (i32.add (i32.const 48) (i32.load (i32.const 200))))
    (i32.store (i32.const 500) (i32.const 400))
    (i32.store (i32.const 504) (i32.const 3))
    (drop (call $w (i32.const 1) (i32.const 500) (i32.const 1) (i32.const 508)))))"#,
    )
    .unwrap();
    let e = engine();
    let pre = prepare(&e, &wasm);
    let budget = MemoryBudget::new(1 << 30);
    let t = Instant::now();
    let end = run_with(&*pre, &budget, CAP, io("", Duration::from_secs(5))).await;
    let took = t.elapsed();
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
    assert_eq!(
        &end.stdout[..],
        b"017",
        "errno 0, one event, for userdata 7"
    );
    assert!(
        took >= Duration::from_millis(30) && took < Duration::from_millis(500),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_artifact_runs_like_the_compiled_module() {
    let e = engine();
    let wasm = wasm_of("hash");
    let code = e.compile(&wasm).unwrap();
    let artifact = e.serialize(&*code, &wasm).unwrap();
    assert_eq!(artifact, wasm, "the artifact is the wasm itself");
    let t = Instant::now();
    // SAFETY: `artifact` comes from this engine's `serialize`.
    let loaded = unsafe { e.load(&artifact) }.unwrap();
    println!(
        "load(hash artifact, {} bytes): {:?}",
        artifact.len(),
        t.elapsed()
    );
    let stdin = r#"{"input":"paper","iterations":5000}"#;
    let a = run(&*e.prepare(&code).unwrap(), stdin).await;
    let b = run(&*e.prepare(&loaded).unwrap(), stdin).await;
    assert!(matches!(b.exit, Exit::Returned), "{:?}", b.exit);
    assert_eq!(last_line(&a.stdout), last_line(&b.stdout));
    assert_eq!(
        last_line(&b.stdout),
        super::native_line("hash", stdin.as_bytes())
    );
}

/// Slices far smaller than a lazy translation, a memory.grow or a bulk copy needs: every pause
/// must resume (wasmi 2.0.0 ends the call when lazy translation runs out of fuel, unless it is
/// charged nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_fuel_slices_pause_and_resume_everywhere() {
    for lazy_translation in [true, false] {
        let e = Wasmi::new(&EngineConfig {
            fuel_slice: 1000,
            lazy_translation,
            ..EngineConfig::default()
        })
        .unwrap();
        for (name, stdin) in [
            ("hash", r#"{"input":"paper","iterations":50}"#),
            ("json", r#"{"items":50,"seed":7}"#),
            ("image", r#"{"width":30,"height":20}"#),
        ] {
            let end = run(&*prepare(&e, &wasm_of(name)), stdin).await;
            assert!(
                matches!(end.exit, Exit::Returned),
                "{name}, lazy {lazy_translation}: {:?}",
                end.exit
            );
            assert_eq!(
                last_line(&end.stdout),
                super::native_line(name, stdin.as_bytes()),
                "{name}"
            );
        }
        // A growth of 1000 pages needs 1 MiB of fuel at once.
        let budget = MemoryBudget::new(1 << 30);
        let end = run_with(
            &*prepare(&e, &grow_wat(1, 1000)),
            &budget,
            CAP,
            io("", Duration::from_secs(10)),
        )
        .await;
        assert_eq!(&end.stdout[..], b"granted\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_a_command_and_foreign_imports_are_refused_at_prepare() {
    let e = engine();
    let cases = [
        (r#"(module (func (export "main")))"#, "not a WASI command"),
        (
            r#"(module (func (export "_start") (param i32)))"#,
            "not a WASI command",
        ),
        (
            r#"(module (import "env" "f" (func)) (func (export "_start")))"#,
            "cannot be linked",
        ),
        (
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))) (func (export "_start")))"#,
            "cannot be linked",
        ),
    ];
    for (wat, want) in cases {
        let code = e.compile(&wat::parse_str(wat).unwrap()).unwrap();
        match e.prepare(&code) {
            Err(Failure::InitFailed(m)) => assert!(m.contains(want), "{wat}: {m}"),
            Err(other) => panic!("{wat}: {other:?}"),
            Ok(_) => panic!("{wat}: prepared"),
        }
    }
    // A start section is refused at compile.
    let start =
        wat::parse_str(r#"(module (func $s) (start $s) (func (export "_start")))"#).unwrap();
    assert!(e.compile(&start).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_and_a_stack_overflow_are_worded_for_the_client() {
    let e = engine();
    let budget = MemoryBudget::new(1 << 30);
    let trap = prepare(
        &e,
        &wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
        )
        .unwrap(),
    );
    let end = run_with(&*trap, &budget, CAP, io("", Duration::from_secs(5))).await;
    assert!(
        matches!(&end.exit, Exit::Failed(Failure::ActionFailed(m)) if m.starts_with("The action trapped")),
        "{:?}",
        end.exit
    );
    let deep = prepare(&e, &wat::parse_str(r#"(module (memory (export "memory") 1) (func $f (call $f)) (func (export "_start") (call $f)))"#).unwrap());
    let end = run_with(&*deep, &budget, CAP, io("", Duration::from_secs(5))).await;
    assert!(
        matches!(&end.exit, Exit::Failed(Failure::ActionFailed(m)) if m.contains("overflowed its call stack")),
        "{:?}",
        end.exit
    );
    // proc_exit with a non-zero status is a return: the result line decides.
    let exit = prepare(&e, &wat::parse_str(r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $x (param i32))) (memory (export "memory") 1) (func (export "_start") (call $x (i32.const 3))))"#).unwrap());
    let end = run_with(&*exit, &budget, CAP, io("", Duration::from_secs(5))).await;
    assert!(matches!(end.exit, Exit::Returned), "{:?}", end.exit);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Numbers for the report; asserts only that they were measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timings() {
    let hash = wasm_of("hash");
    for lazy in [false, true] {
        let e = Wasmi::new(&EngineConfig {
            lazy_translation: lazy,
            ..EngineConfig::default()
        })
        .unwrap();
        let times: Vec<_> = (0..5)
            .map(|_| {
                let t = Instant::now();
                e.compile(&hash).unwrap();
                t.elapsed()
            })
            .collect();
        let loads: Vec<_> = (0..5)
            .map(|_| {
                let t = Instant::now();
                // SAFETY: the wasm this engine compiled above is what `serialize` writes.
                unsafe { e.load(&hash) }.unwrap();
                t.elapsed()
            })
            .collect();
        let pre = prepare(&e, &hash);
        let t = Instant::now();
        let end = run(&*pre, r#"{"input":"paper","iterations":5000}"#).await;
        assert!(matches!(end.exit, Exit::Returned));
        println!(
            "hash.wasm ({} bytes), {} translation: compile median {:?}, load (unvalidated) median {:?}, first run {:?}",
            hash.len(),
            if lazy { "lazy" } else { "eager" },
            median(times),
            median(loads),
            t.elapsed()
        );
    }

    let e = engine();
    let noop = prepare(&e, &wasm_of("noop"));
    let budget = MemoryBudget::new(4 << 30);
    for _ in 0..20 {
        run_with(&*noop, &budget, CAP, io("{}", Duration::from_secs(5))).await;
    }
    let mut whole = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let inst = noop
            .instantiate(CAP, budget.try_charge(0).unwrap())
            .await
            .unwrap();
        let r = Instant::now();
        let end = inst.run(io("{}", Duration::from_secs(5))).await;
        runs.push(r.elapsed());
        whole.push(t.elapsed());
        assert!(matches!(end.exit, Exit::Returned));
    }
    println!(
        "warm noop, median of 200: instantiate+run {:?}, run alone {:?}",
        median(whole),
        median(runs)
    );

    // Fuel per millisecond of real workloads, to size the slice: run them on raw wasmi with
    // plenty of fuel and see what they used.
    for (name, stdin) in [
        ("hash", r#"{"input":"paper","iterations":5000}"#),
        ("prime", r#"{"n":1000000}"#),
        ("json", r#"{"items":5000,"seed":7}"#),
    ] {
        let (fuel, took) = fuel_used(&wasm_of(name), stdin);
        println!(
            "{name} {stdin}: {fuel} fuel in {took:?} = {:.0} fuel/ms",
            fuel as f64 / took.as_secs_f64() / 1000.0
        );
    }

    // How long one fuel slice of a tight loop takes.
    let looping = prepare(&e, &wat::parse_str(LOOP_WAT).unwrap());
    let t = Instant::now();
    let end = run_with(&*looping, &budget, CAP, io("", Duration::from_millis(500))).await;
    assert!(matches!(end.exit, Exit::Timeout));
    let took = t.elapsed();
    println!(
        "endless loop for {took:?} with a fuel slice of {}",
        EngineConfig::default().fuel_slice
    );
}

/// Fuel `wasm`'s `_start` uses on `stdin`, and how long it took (eager translation, so
/// translation is not in the time).
fn fuel_used(wasm: &[u8], stdin: &str) -> (u64, Duration) {
    let mut config = wasmi::Config::default();
    config
        .consume_fuel(true)
        .compilation_mode(wasmi::CompilationMode::Eager);
    let engine = wasmi::Engine::new(&config);
    let module = wasmi::Module::new(&engine, wasm).unwrap();
    let mut linker = wasmi::Linker::<wasmi_wasi::WasiCtx>::new(&engine);
    wasmi_wasi::add_to_linker(&mut linker, |c| c).unwrap();
    let wasi = wasmi_wasi::WasiCtxBuilder::new()
        .stdin(Box::new(wasmi_wasi::wasi_common::pipe::ReadPipe::from(
            stdin,
        )))
        .build();
    let mut store = wasmi::Store::new(&engine, wasi);
    let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
    let start = instance.get_typed_func::<(), ()>(&store, "_start").unwrap();
    let fuel = 1u64 << 50;
    store.set_fuel(fuel).unwrap();
    let t = Instant::now();
    let r = start.call(&mut store, ());
    let took = t.elapsed();
    assert!(
        r.is_ok() || r.as_ref().unwrap_err().i32_exit_status() == Some(0),
        "{r:?}"
    );
    (fuel - store.get_fuel().unwrap(), took)
}
