//! The Docker backend against a real engine: image build, every workload in both proxy exec
//! modes (checked against the Wasm executor), the protocol's error cases, memory, the variants,
//! and that no container outlives a test, a cancelled provision, a dropped backend or a Ctrl-C.
//!
//! These tests need a Docker engine (DOCKER_HOST or the local socket) and fail, never skip,
//! without one. They use distinct run ids and remove only their own containers, so they may run
//! in parallel with each other and with other users of the engine.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::FutureExt;
use serde_json::{Value, json};
use wow_artifacts::{Artifacts, WORKLOADS};
use wow_protocol::msg;
use wowbench::backend::docker::{
    self, DockerBackend, DockerOptions, DockerVariant, LABEL_RUN, list_labelled,
};
use wowbench::backend::wasm::{WasmBackend, WasmOptions};
use wowbench::backend::{ActionClient, ActionCode, Backend, BackendKind};

// ---------------------------------------------------------------------------------------------
// Helpers (prefixed `docker_` where a shared test helper could clash)

/// Connects to the engine or fails the test with a clear message.
async fn docker_engine() -> bollard::Docker {
    match docker::connect_engine(None).await {
        Ok((d, _)) => d,
        Err(e) => panic!(
            "Docker engine not reachable ({e:#}): these tests need it; start dockerd or set DOCKER_HOST"
        ),
    }
}

/// A run id no other test (or test process) uses.
fn docker_run_id(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("test-{test}-{}-{nanos:08x}", std::process::id())
}

/// The built artifacts (built once per test process).
fn docker_artifacts() -> &'static Artifacts {
    static A: OnceLock<Artifacts> = OnceLock::new();
    A.get_or_init(|| wow_artifacts::ensure_built_default().expect("building the artifacts"))
}

fn docker_client() -> ActionClient {
    ActionClient::new(Duration::from_secs(60)).unwrap()
}

async fn docker_backend(run_id: &str, variant: DockerVariant) -> DockerBackend {
    let mut opts = DockerOptions::new(run_id);
    opts.variant = variant.as_str().to_string();
    opts.proxy_binary = Some(docker_artifacts().proxy(&wow_artifacts::default_native_target()));
    DockerBackend::connect(opts, docker_client())
        .await
        .expect("connecting the Docker backend")
}

/// The code of a workload for both sides.
fn docker_code(workload: &str) -> ActionCode {
    let a = docker_artifacts();
    let wasm = std::fs::read(a.wasm(workload)).unwrap();
    let native =
        std::fs::read(a.native(workload, &wow_artifacts::default_native_target())).unwrap();
    ActionCode::new(workload, &wasm, &native)
}

/// Small parameters per workload, so the tests stay quick.
fn docker_params(workload: &str) -> Value {
    match workload {
        "hash" => json!({"iterations": 1000}),
        "sleep" => json!({"ms": 5}),
        "prime" => json!({"n": 10000}),
        "json" => json!({"items": 200}),
        "image" => json!({}),
        _ => json!({"a": 1, "b": [true, null], "c": {"d": "é"}}),
    }
}

/// Containers still labelled with `run_id`.
async fn docker_leftovers(run_id: &str) -> Vec<String> {
    let d = docker_engine().await;
    list_labelled(&d, &format!("{LABEL_RUN}={run_id}"))
        .await
        .unwrap()
}

/// Runs `body`, then cleans the backend up whatever happened, checks that nothing of the run is
/// left, and re-raises a panic from `body`.
async fn docker_with_cleanup<F: Future<Output = ()>>(backend: &DockerBackend, body: F) {
    let result = AssertUnwindSafe(body).catch_unwind().await;
    let cleaned = backend.cleanup().await;
    let left = docker_leftovers(backend.run_id()).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    cleaned.expect("cleanup");
    assert!(left.is_empty(), "containers left after cleanup: {left:?}");
    assert_eq!(backend.cleanup().await.unwrap(), 0, "cleanup is idempotent");
}

fn docker_error_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("<no error field in {}>", String::from_utf8_lossy(body)))
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_builds_from_nothing_and_a_second_ensure_is_a_no_op() {
    let d = docker_engine().await;
    let proxy = docker_artifacts().proxy(&wow_artifacts::default_native_target());
    // A repository of its own and no build cache: every layer is made here, from `scratch`,
    // without touching the shared image other tests use (nothing can be pulled on this engine).
    let repo = format!(
        "wowbench-test-image-{}",
        docker_run_id("img").to_lowercase()
    );
    let first = docker::ensure_image(&d, &proxy, &repo, true).await.unwrap();
    let second = docker::ensure_image(&d, &proxy, &repo, true).await.unwrap();
    let inspect = d.inspect_image(&first.tag).await.unwrap();
    // A changed input makes a new tag; the repository's image of a minute ago stays (another
    // build's run may be about to use it; only images over an hour old are pruned).
    let changed = std::env::temp_dir().join(format!("{repo}-proxy"));
    let mut bytes = std::fs::read(&proxy).unwrap();
    bytes.push(0);
    std::fs::write(&changed, &bytes).unwrap();
    let third = docker::ensure_image(&d, &changed, &repo, true)
        .await
        .unwrap();
    let _ = std::fs::remove_file(&changed);
    let first_left = docker::image::image_id(&d, &first.tag).await.unwrap();
    let _ = d
        .remove_image(
            &first.tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
    let removed = d
        .remove_image(
            &third.tag,
            Some(
                bollard::query_parameters::RemoveImageOptionsBuilder::default()
                    .force(true)
                    .build(),
            ),
            None,
        )
        .await;

    assert!(first.built, "the first ensure builds");
    assert!(!second.built, "the second ensure finds the tag");
    assert_eq!(first.id, second.id);
    assert_eq!(first.tag, format!("{repo}:{}", &first.proxy_sha256[..16]));
    assert!(third.built && third.tag != first.tag, "{third:?}");
    assert_eq!(first_left, Some(first.id.clone()), "a young image stays");
    let config = inspect.config.unwrap();
    assert_eq!(config.entrypoint.unwrap(), vec!["/wow-proxy".to_string()]);
    assert_eq!(
        config
            .labels
            .unwrap()
            .get(docker::LABEL)
            .map(String::as_str),
        Some("1")
    );
    let layers = inspect.root_fs.unwrap().layers.unwrap_or_default();
    assert_eq!(layers.len(), 1, "scratch plus one COPY layer: {layers:?}");
    removed.expect("removing the test image");

    // The shared image: whoever builds it first, a second call is a no-op.
    docker::ensure_proxy_image(&d, &proxy).await.unwrap();
    let again = docker::ensure_proxy_image(&d, &proxy).await.unwrap();
    assert!(!again.built);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_gives_the_wasm_executors_result_in_both_exec_modes() {
    docker_engine().await;
    let run_id = docker_run_id("workloads");
    let (wasm, work_dir) = docker_reference_executor(&run_id).await;

    // Both exec modes under one run id, as one run of the harness would have them.
    let spawn = docker_backend(&run_id, DockerVariant::CreateStart).await;
    let actionloop = docker_backend(&run_id, DockerVariant::Actionloop).await;
    let body = async {
        for backend in [&spawn, &actionloop] {
            docker_same_results_as_the_executor(backend, &wasm).await;
        }
    };
    let body = async {
        docker_with_cleanup(&actionloop, body).await;
    };
    docker_with_cleanup(&spawn, body).await;
    wasm.shutdown().await;
    let _ = std::fs::remove_dir_all(&work_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_in_a_container_answers_protocol_errors_as_openwhisk() {
    docker_engine().await;
    // The paper's Python proxy (`skeleton`) answers them as the Rust one does.
    for variant in [
        DockerVariant::CreateStart,
        DockerVariant::Actionloop,
        DockerVariant::Skeleton,
    ] {
        let run_id = docker_run_id("protocol");
        let backend = docker_backend(&run_id, variant).await;
        docker_with_cleanup(&backend, async {
            let code = docker_code("noop");
            let client = backend.client();
            let sb = backend.provision("noop").await.unwrap();
            let run_body = |value: Value| {
                Bytes::from(
                    serde_json::to_vec(&json!({"value": value, "activation_id": "a1"})).unwrap(),
                )
            };

            let r = client
                .run(&sb.run_url(), run_body(json!({})))
                .await
                .unwrap();
            assert_eq!(r.status, 502, "run before init");
            assert_eq!(docker_error_of(&r.body), msg::NOT_INITIALIZED);

            let r = client
                .init(&sb.init_url(), Bytes::from_static(b"{not json"))
                .await
                .unwrap();
            assert_eq!(r.status, 400, "malformed init");

            let r = backend.init(&sb, &code).await.unwrap();
            assert_eq!(r.status, 200, "{}", r.error_text());

            let r = backend.init(&sb, &code).await.unwrap();
            assert_eq!(r.status, 403, "second init");
            assert_eq!(docker_error_of(&r.body), msg::REINIT);

            for not_a_dict in [json!(5), json!("text"), json!(true)] {
                let r = client
                    .run(&sb.run_url(), run_body(not_a_dict.clone()))
                    .await
                    .unwrap();
                assert_eq!(r.status, 404, "argument {not_a_dict}");
                assert_eq!(docker_error_of(&r.body), msg::NOT_DICT_ARG);
            }

            let r = client
                .run(&sb.run_url(), Bytes::from_static(b"[1,"))
                .await
                .unwrap();
            assert_eq!(r.status, 400, "malformed run");

            let r = backend.run(&sb, &json!({"x": 1})).await.unwrap();
            assert!(r.ok(), "{}", r.error_text());
            assert_eq!(r.json().unwrap(), json!({"x": 1}));
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_of_a_warm_container_by_both_methods() {
    docker_engine().await;
    let run_id = docker_run_id("memory");
    let backend = docker_backend(&run_id, DockerVariant::CreateStart).await;
    docker_with_cleanup(&backend, async {
        let code = docker_code("noop");
        let mut sandboxes = Vec::new();
        for _ in 0..2 {
            let sb = backend.provision("noop").await.unwrap();
            assert!(backend.init(&sb, &code).await.unwrap().ok());
            assert!(backend.run(&sb, &json!({})).await.unwrap().ok());
            sandboxes.push(sb);
        }
        let one = backend.memory(&sandboxes[..1]).await.unwrap();
        let two = backend.memory(&sandboxes).await.unwrap();
        for s in [&one, &two] {
            let paper = s.paper_per_sandbox.expect("paper figure");
            let full = s.full_per_sandbox.expect("full figure (shim found)");
            assert!(paper > 0.0, "{s:?}");
            assert!(full >= paper, "{s:?}");
            let part = |name: &str| {
                s.parts
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| *v)
                    .unwrap_or_else(|| panic!("no part {name} in {s:?}"))
            };
            assert!(part("shim_pss") > 0.0, "{s:?}");
            assert!(part("shim_rss") >= part("shim_pss"), "{s:?}");
            assert!(part("cgroup") > 0.0, "{s:?}");
        }
        // The cgroup files give what the stats API (`docker stats`) gives.
        let id = sandboxes[0].container_id.as_deref().unwrap();
        let via_api = docker::stats_working_set(backend.docker(), id)
            .await
            .unwrap() as f64;
        let local = backend.memory(&sandboxes[..1]).await.unwrap();
        let local = local.paper_per_sandbox.unwrap();
        assert!(
            (via_api - local).abs() <= (256.0 * 1024.0_f64).max(0.2 * via_api),
            "cgroup files {local} vs stats API {via_api}"
        );
        assert_eq!(two.sandboxes, 2);
        assert!(
            two.parts.iter().any(|(n, v)| n == "proxy_pss" && *v > 0.0),
            "docker-proxy found: {two:?}"
        );
        // A storage driver with a helper process per container (fuse-overlayfs) has it counted
        // in the full figure; the kernel's overlay2 has none.
        let driver = backend
            .docker()
            .info()
            .await
            .unwrap()
            .driver
            .unwrap_or_default();
        let storage = two
            .parts
            .iter()
            .find(|(n, _)| n == "storage_pss")
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no storage_pss part: {two:?}"));
        if driver == "fuse-overlayfs" {
            assert!(storage > 0.0, "fuse-overlayfs helpers counted: {two:?}");
        } else {
            assert_eq!(storage, 0.0, "driver {driver} has no helper: {two:?}");
        }
        for sb in &sandboxes {
            backend.destroy(sb).await.unwrap();
        }
        assert_eq!(backend.live_containers(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_without_capabilities_new_privileges_or_unbounded_pids() {
    let d = docker_engine().await;
    let code = docker_code("noop");
    for variant in DockerVariant::ALL {
        let run_id = docker_run_id("caps");
        let b = docker_backend(&run_id, variant).await;
        docker_with_cleanup(&b, async {
            if variant == DockerVariant::Prestarted {
                b.prestart(1).await.unwrap();
            }
            let sb = b.provision("noop").await.unwrap();
            assert!(b.init(&sb, &code).await.unwrap().ok(), "{variant}");
            assert!(b.run(&sb, &json!({})).await.unwrap().ok(), "{variant}");
            let id = sb.container_id.clone().expect("a container");
            let c = d
                .inspect_container(
                    &id,
                    None::<bollard::query_parameters::InspectContainerOptions>,
                )
                .await
                .unwrap();
            let host = c.host_config.unwrap();
            assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]), "{variant}");
            assert_eq!(host.pids_limit, Some(docker::PIDS_LIMIT), "{variant}");
            // What the kernel says of the running proxy, not only what was asked for.
            let pid = c.state.unwrap().pid.unwrap();
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_string()
            };
            assert_eq!(field("CapEff:"), "0000000000000000", "{variant}: {status}");
            assert_eq!(field("CapBnd:"), "0000000000000000", "{variant}: {status}");
            assert_eq!(field("NoNewPrivs:"), "1", "{variant}: {status}");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_network_and_prestarted_variants_serve_and_are_timed_honestly() {
    docker_engine().await;
    let code = docker_code("noop");

    let run_id = docker_run_id("hostnet");
    let host = docker_backend(&run_id, DockerVariant::HostNet).await;
    docker_with_cleanup(&host, async {
        let sb = host.provision("noop").await.unwrap();
        assert!(
            sb.base_url.starts_with("http://127.0.0.1:"),
            "{}",
            sb.base_url
        );
        assert!(sb.provision.create.is_some() && sb.provision.ready_polls >= 1);
        assert!(host.init(&sb, &code).await.unwrap().ok());
        assert!(host.run(&sb, &json!({})).await.unwrap().ok());
        let m = host.memory(std::slice::from_ref(&sb)).await.unwrap();
        assert!(m.full_per_sandbox.is_some(), "{m:?}");
        assert!(
            m.parts.iter().any(|(n, v)| n == "proxy_pss" && *v == 0.0),
            "no docker-proxy with host networking: {m:?}"
        );
    })
    .await;

    let run_id = docker_run_id("prestarted");
    let pre = docker_backend(&run_id, DockerVariant::Prestarted).await;
    docker_with_cleanup(&pre, async {
        pre.prestart(2).await.unwrap();
        assert_eq!(pre.prestarted(), 2);
        assert_eq!(docker_leftovers(&run_id).await.len(), 2);
        for _ in 0..2 {
            let sb = pre.provision("noop").await.unwrap();
            // Taken from the pool: no create, start or readiness in this cold start.
            assert!(
                sb.provision.create.is_none() && sb.provision.start.is_none(),
                "{:?}",
                sb.provision
            );
            assert!(sb.provision.total < Duration::from_secs(1));
            assert!(sb.id.starts_with("noop-"));
            assert!(pre.init(&sb, &code).await.unwrap().ok());
            assert!(pre.run(&sb, &json!({})).await.unwrap().ok());
        }
        assert_eq!(pre.prestarted(), 0);
        // Empty pool: a full cold start, recorded with its parts.
        let sb = pre.provision("noop").await.unwrap();
        assert!(sb.provision.create.is_some() && sb.provision.start.is_some());
        assert!(pre.init(&sb, &code).await.unwrap().ok());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_catches_provisions_in_flight_and_cancelled() {
    docker_engine().await;
    let run_id = docker_run_id("inflight");
    let backend = docker_backend(&run_id, DockerVariant::CreateStart).await;

    // Cancelled mid-provision: whatever the engine made is still removed by cleanup.
    let cancelled = tokio::time::timeout(Duration::from_millis(5), backend.provision("noop")).await;
    assert!(cancelled.is_err() || cancelled.unwrap().is_ok());

    // Several provisions in flight when cleanup starts.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let b = backend.clone();
        tasks.push(tokio::spawn(async move { b.provision("noop").await }));
    }
    let t = Instant::now();
    while docker_leftovers(&run_id).await.is_empty() && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let removed = backend.cleanup().await.unwrap();
    assert!(removed >= 1, "something was in flight");
    for t in tasks {
        // Each either finished before cleanup (its container then removed) or failed.
        let _ = t.await.unwrap();
    }
    assert!(docker_leftovers(&run_id).await.is_empty(), "nothing left");
    assert_eq!(backend.cleanup().await.unwrap(), 0, "idempotent");
    assert!(
        backend.provision("noop").await.is_err(),
        "no containers after cleanup"
    );
    assert!(docker_leftovers(&run_id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_backend_removes_its_containers() {
    docker_engine().await;
    let run_id = docker_run_id("drop");
    let backend = docker_backend(&run_id, DockerVariant::CreateStart).await;
    backend.provision("noop").await.unwrap();
    assert_eq!(docker_leftovers(&run_id).await.len(), 1);
    drop(backend);
    assert!(docker_leftovers(&run_id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_docker_probe_leaves_no_container() {
    docker_engine().await;
    docker_artifacts();
    let run_id = docker_run_id("sigint");
    let log = std::env::temp_dir().join(format!("wowbench-{run_id}.log"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wowbench"))
        .args([
            "docker-probe",
            "--count",
            "50",
            "--quiet",
            "--run-id",
            &run_id,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;

    let t = Instant::now();
    loop {
        if !docker_leftovers(&run_id).await.is_empty() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "docker-probe exited ({status}) before making a container: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if t.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            panic!("docker-probe made no container within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: signalling a child process this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);

    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("docker-probe did not exit within 3 minutes of SIGINT");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let left = docker_leftovers(&run_id).await;
    assert!(
        left.is_empty(),
        "containers left after SIGINT: {left:?}\n{stderr}"
    );
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_starts_a_container_and_reports_the_engine() {
    docker_engine().await;
    let info = DockerBackend::preflight(None, docker_client())
        .await
        .unwrap();
    assert!(
        !info.server_version.is_empty() && !info.api_version.is_empty(),
        "{info:?}"
    );
    assert!(!info.endpoint.is_empty());
    let left = docker_leftovers(&format!("preflight-{}", std::process::id())).await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_under_a_cgroup_parent_with_a_memory_limit_are_measured() {
    let d = docker_engine().await;
    let (_, engine) = docker::connect_engine(None).await.unwrap();
    let run_id = docker_run_id("parent");
    let parent = if engine.cgroup_driver == "systemd" {
        format!("wowbench_{}.slice", run_id.replace('-', "_"))
    } else {
        format!("/wowbench-{run_id}")
    };
    let mut opts = DockerOptions::new(&run_id);
    opts.cgroup_parent = Some(parent.clone());
    opts.memory_limit_bytes = Some(64 << 20);
    opts.proxy_binary = Some(docker_artifacts().proxy(&wow_artifacts::default_native_target()));
    let backend = DockerBackend::connect(opts, docker_client()).await.unwrap();
    docker_with_cleanup(&backend, async {
        let code = docker_code("noop");
        let sb = backend.provision("noop").await.unwrap();
        assert!(backend.init(&sb, &code).await.unwrap().ok());
        assert!(backend.run(&sb, &json!({})).await.unwrap().ok());
        let id = sb.container_id.clone().unwrap();
        let host = d
            .inspect_container(&id, None)
            .await
            .unwrap()
            .host_config
            .unwrap();
        assert_eq!(host.memory, Some(64 << 20));
        let m = backend.memory(std::slice::from_ref(&sb)).await.unwrap();
        assert!(m.paper_per_sandbox.unwrap() > 0.0, "{m:?}");
        assert!(m.full_per_sandbox.unwrap() >= m.paper_per_sandbox.unwrap());
    })
    .await;
    // Docker leaves the (now empty) parent cgroups behind; remove them.
    if !parent.ends_with(".slice") {
        for entry in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(entry.path().join(parent.trim_start_matches('/')));
        }
        let _ = std::fs::remove_dir(
            PathBuf::from("/sys/fs/cgroup").join(parent.trim_start_matches('/')),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_killed_run_is_an_error_and_the_container_goes_on() {
    docker_engine().await;
    let run_id = docker_run_id("oom");
    let mut opts = DockerOptions::new(&run_id);
    // Room for the proxy, not for a 4096 × 1024 image (12 MiB of pixels plus its copies).
    opts.memory_limit_bytes = Some(16 << 20);
    opts.memory_swap_bytes = Some(16 << 20);
    opts.proxy_binary = Some(docker_artifacts().proxy(&wow_artifacts::default_native_target()));
    let backend = DockerBackend::connect(opts, docker_client()).await.unwrap();
    docker_with_cleanup(&backend, async {
        let sb = backend.provision("image").await.unwrap();
        assert!(backend.init(&sb, &docker_code("image")).await.unwrap().ok());
        let big = backend
            .run(&sb, &json!({"width": 4096, "height": 1024}))
            .await
            .unwrap();
        assert!(!big.ok(), "the run must fail under a 16 MiB limit: {big:?}");
        let body = String::from_utf8_lossy(&big.body);
        assert!(
            body.contains("signal 9") && body.contains("out of memory"),
            "the error names the kill: {body}"
        );
        // The kernel killed the action, not the proxy: the same container answers the next run.
        let small = backend
            .run(&sb, &json!({"width": 64, "height": 64}))
            .await
            .unwrap();
        assert!(small.ok(), "{small:?}");
        assert_eq!(small.json().unwrap()["width"], 64);
    })
    .await;
    let left = docker_leftovers(&run_id).await;
    assert!(left.is_empty(), "{left:?}");
}

/// Starts a Wasm executor (the test binary's `wowbench executor`) for reference results.
async fn docker_reference_executor(run_id: &str) -> (WasmBackend, PathBuf) {
    static EXECUTOR: Once = Once::new();
    // SAFETY: set once, before any executor is started, to a constant path.
    EXECUTOR.call_once(|| unsafe {
        std::env::set_var("WOWBENCH_EXECUTOR", env!("CARGO_BIN_EXE_wowbench"));
    });
    let work_dir: PathBuf = std::env::temp_dir().join(format!("wowbench-{run_id}"));
    let wasm = WasmBackend::start(
        &WasmOptions {
            variant: "compile".into(),
            url: None,
            program: None,
            executor_args: vec![],
            work_dir: work_dir.clone(),
            cgroup_procs: vec![],
        },
        docker_client(),
    )
    .await
    .expect("starting the Wasm executor");
    (wasm, work_dir)
}

/// Every workload on `backend` gives the Wasm executor's result, on two runs of one sandbox
/// (the action loop reuses its process on the second), and fails as it does on bad parameters.
async fn docker_same_results_as_the_executor(backend: &DockerBackend, wasm: &WasmBackend) {
    let mode = backend.variant().to_string();
    for workload in WORKLOADS {
        let code = docker_code(workload);
        let params = docker_params(workload);
        let ws = wasm.provision(workload).await.unwrap();
        let init = wasm.init(&ws, &code).await.unwrap();
        assert!(init.ok(), "wasm init {workload}: {}", init.error_text());
        let expected = wasm.run(&ws, &params).await.unwrap();
        assert!(expected.ok(), "wasm {workload}: {}", expected.error_text());
        let bad = json!({"ms": "x", "n": "x", "iterations": "x", "items": "x", "width": "x"});
        let expected_bad = wasm.run(&ws, &bad).await.unwrap();

        let sb = backend.provision(workload).await.unwrap();
        assert_eq!(sb.kind, BackendKind::Docker);
        let init = backend.init(&sb, &code).await.unwrap();
        assert!(init.ok(), "{mode} init {workload}: {}", init.error_text());
        for round in 0..2 {
            let got = backend.run(&sb, &params).await.unwrap();
            assert!(
                got.ok(),
                "{mode} {workload} run {round}: {}",
                got.error_text()
            );
            assert_eq!(
                got.json().unwrap(),
                expected.json().unwrap(),
                "{mode} {workload} run {round} differs from the Wasm executor"
            );
        }
        if workload != "noop" {
            let got_bad = backend.run(&sb, &bad).await.unwrap();
            assert_eq!(
                (got_bad.status, got_bad.is_app_error()),
                (expected_bad.status, expected_bad.is_app_error()),
                "{mode} {workload} with bad parameters: {} vs Wasm {}",
                got_bad.error_text(),
                expected_bad.error_text()
            );
        }
        backend.destroy(&sb).await.unwrap();
        wasm.destroy(&ws).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_papers_python_proxy_passes_parameters_runs_one_at_a_time_and_equals_the_executor() {
    docker_engine().await;
    let run_id = docker_run_id("skeleton");
    let backend = docker_backend(&run_id, DockerVariant::Skeleton).await;
    assert!(backend.image().tag.starts_with("wowbench-skeleton:"));
    let (wasm, work_dir) = docker_reference_executor(&run_id).await;
    docker_with_cleanup(&backend, async {
        let sb = backend.provision("noop").await.unwrap();
        assert!(backend.init(&sb, &docker_code("noop")).await.unwrap().ok());
        // The parameters reach the action on stdin (and as its first argument).
        let r = backend
            .run(&sb, &json!({"x": 1, "é": [true]}))
            .await
            .unwrap();
        assert!(r.ok(), "{}", r.error_text());
        assert_eq!(r.json().unwrap(), json!({"x": 1, "é": [true]}));
        backend.destroy(&sb).await.unwrap();

        // One activation at a time: two runs sent together are answered one after the other.
        let sb = backend.provision("sleep").await.unwrap();
        assert!(backend.init(&sb, &docker_code("sleep")).await.unwrap().ok());
        let t = Instant::now();
        let params = json!({"ms": 300});
        let (a, b) = tokio::join!(backend.run(&sb, &params), backend.run(&sb, &params));
        let both = t.elapsed();
        assert!(a.unwrap().ok() && b.unwrap().ok());
        assert!(
            both >= Duration::from_millis(600),
            "two 300 ms runs overlapped: {both:?}"
        );
        backend.destroy(&sb).await.unwrap();

        docker_same_results_as_the_executor(&backend, &wasm).await;
    })
    .await;
    wasm.shutdown().await;
    let _ = std::fs::remove_dir_all(&work_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_in_a_container_loads_precompiled_code_and_answers_as_on_the_host() {
    docker_engine().await;
    let run_id = docker_run_id("docker-wasm");
    let (wasm, work_dir) = docker_reference_executor(&run_id).await;
    let backend = docker_backend(&run_id, DockerVariant::DockerWasm).await;
    assert!(backend.image().tag.starts_with("wowbench-docker-wasm:"));
    assert_eq!(backend.code_kind(), BackendKind::Wasm);
    docker_with_cleanup(&backend, async {
        // The first init of a fresh container is a load of the artifact baked into the image.
        let sb = backend.provision("hash").await.unwrap();
        let init = backend.init(&sb, &docker_code("hash")).await.unwrap();
        assert!(init.ok(), "{}", init.error_text());
        assert_eq!(init.artifact().as_deref(), Some("disk"));
        backend.destroy(&sb).await.unwrap();
        docker_same_results_as_the_executor(&backend, &wasm).await;
    })
    .await;
    wasm.shutdown().await;
    let _ = std::fs::remove_dir_all(&work_dir);
}
