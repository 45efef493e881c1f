//! The Wasm start-up ladder, measured in-process: each step a cold start may or may not pay,
//! from compiling the module down to running on a pre-warmed instance. The criterion benches
//! and the harness's `ladder` experiment both use these steps, so they measure the same thing.
//!
//! The `deserialize-file` step loads native code from a file: the file lives in a private
//! temporary folder (mode 0700, unpredictable name), is created exclusively without following
//! links, and its digest is checked before every load (untimed).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use wow_protocol::{InitRequest, RunRequest};

use crate::config::{AllocatorChoice, ExecutorConfig};
use crate::engines::{Code, EngineName, Prepared};
use crate::executor::Executor;

/// The rungs, cheapest last: the shared vocabulary's [`LadderStep`]s, whose names the records
/// and charts use.
pub use wow_records::LadderStep;
pub const STEPS: &[LadderStep] = LadderStep::ALL;

const SANDBOX: &str = "ladder";

pub struct Ladder {
    /// The executor whose runs are timed: wasmtime's pooling allocator, or the engine's only
    /// allocation.
    pub main: Arc<Executor>,
    /// wasmtime with on-demand allocation, for the `instantiate-ondemand` rung.
    pub ondemand: Option<Arc<Executor>>,
    wasm: Vec<u8>,
    cwasm: Vec<u8>,
    /// The private folder of `cwasm_path`, removed with the ladder.
    _dir: tempfile::TempDir,
    cwasm_path: PathBuf,
    cwasm_digest: blake3::Hash,
    code: Arc<dyn Code>,
    pre_main: Arc<dyn Prepared>,
    pre_ondemand: Option<Arc<dyn Prepared>>,
    run_request: RunRequest,
}

impl Ladder {
    /// Sets up the executor(s) of `engine` hosting `wasm`: for wasmtime one with the pooling
    /// allocator and one allocating on demand.
    pub async fn new(engine: EngineName, wasm: &[u8], params_json: &str) -> Result<Ladder> {
        let mut cfg = ExecutorConfig::in_process();
        cfg.engine = engine;
        // No background pre-warming: fresh runs instantiate; pre-warmed runs fill the pool
        // explicitly, untimed.
        cfg.prewarm.enabled = false;
        let wasmtime = engine == EngineName::Wasmtime;
        let main = Executor::new(ExecutorConfig {
            allocator: if wasmtime {
                AllocatorChoice::Pooling
            } else {
                AllocatorChoice::OnDemand
            },
            ..cfg.clone()
        })?;
        let ondemand = if wasmtime {
            let mut od = cfg.clone();
            od.allocator = AllocatorChoice::OnDemand;
            Some(Executor::new(od)?)
        } else {
            None
        };
        let code = base64::engine::general_purpose::STANDARD.encode(wasm);
        for e in std::iter::once(&main).chain(ondemand.as_ref()) {
            e.init(
                SANDBOX,
                InitRequest::binary(SANDBOX, code.clone(), Default::default()),
            )
            .await
            .map_err(|f| anyhow!("init: {f}"))?;
        }
        let compiled = main
            .engine
            .compile(wasm)
            .map_err(|e| anyhow!("compile: {e:#}"))?;
        let cwasm = main
            .engine
            .serialize(&*compiled, wasm)
            .map_err(|e| anyhow!("serialize: {e:#}"))?;
        let dir = tempfile::Builder::new()
            .prefix("wow-ladder-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        let cwasm_path = dir.path().join("module.cwasm");
        write_new(&cwasm_path, &cwasm)?;
        let cwasm_digest = blake3::hash(&cwasm);
        let pre_main = main.prepare(&compiled).map_err(|f| anyhow!("{f}"))?;
        let pre_ondemand = match &ondemand {
            Some(od) => {
                let c = od
                    .engine
                    .compile(wasm)
                    .map_err(|e| anyhow!("compile: {e:#}"))?;
                Some(od.prepare(&c).map_err(|f| anyhow!("{f}"))?)
            }
            None => None,
        };
        let run_request = RunRequest::parse(format!(r#"{{"value": {params_json}}}"#).as_bytes())
            .map_err(|f| anyhow!("{f}"))?;
        Ok(Ladder {
            main,
            ondemand,
            wasm: wasm.to_vec(),
            cwasm,
            _dir: dir,
            cwasm_path,
            cwasm_digest,
            code: compiled,
            pre_main,
            pre_ondemand,
            run_request,
        })
    }

    /// The rungs this engine has: `instantiate-pooled` only where instances come from a pool
    /// reserved up front (wasmtime), `run-prewarmed` only where an instance can be made ahead
    /// of its run.
    pub fn steps(&self) -> Vec<LadderStep> {
        let info = self.main.engine.info();
        let pooled = info.allocator.slots > 0;
        STEPS
            .iter()
            .copied()
            .filter(|s| pooled || *s != LadderStep::InstantiatePooled)
            .filter(|s| info.prewarm || *s != LadderStep::RunPrewarmed)
            .collect()
    }

    pub fn compile(&self) -> Arc<dyn Code> {
        self.main.engine.compile(&self.wasm).expect("compiles")
    }

    pub fn deserialize(&self) -> Arc<dyn Code> {
        // SAFETY: bytes produced by `serialize` of this engine in `new`.
        unsafe { self.main.engine.load(&self.cwasm) }.expect("deserializes")
    }

    /// The compiled module's file, once its digest is checked.
    pub fn verified_file(&self) -> Result<VerifiedFile> {
        let bytes = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.cwasm_path)
            .and_then(|mut f| {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut b).map(|_| b)
            })
            .map_err(|e| anyhow!("cannot read {}: {e}", self.cwasm_path.display()))?;
        if blake3::hash(&bytes) != self.cwasm_digest {
            bail!(
                "{} changed since it was written: not loaded",
                self.cwasm_path.display()
            );
        }
        Ok(VerifiedFile {
            engine: self.main.engine.clone(),
            path: self.cwasm_path.clone(),
        })
    }

    /// Loads the module from its file, once its digest is checked.
    pub fn deserialize_file(&self) -> Result<Arc<dyn Code>> {
        self.verified_file()?.load()
    }

    pub fn instance_pre(&self) -> Arc<dyn Prepared> {
        self.main.prepare(&self.code).expect("links")
    }

    /// A new store plus an instance of the module (not run), then dropped. `pooled` picks
    /// wasmtime's pooling executor; every other engine allocates on demand.
    pub async fn instantiate(&self, pooled: bool) {
        let (exec, pre) = match (&self.ondemand, &self.pre_ondemand) {
            (Some(od), Some(pre)) if !pooled => (od, pre),
            _ => (&self.main, &self.pre_main),
        };
        let charge = exec.memory.try_charge(0).expect("nothing to charge");
        let instance = pre
            .instantiate(exec.config.limits.memory_bytes, charge)
            .await
            .expect("instantiates");
        drop(instance);
    }

    /// A whole run through the executor with a fresh instance.
    pub async fn run_fresh(&self) -> Duration {
        let t = Instant::now();
        let out = self
            .main
            .run(SANDBOX, &self.run_request)
            .await
            .expect("runs");
        let d = t.elapsed();
        assert!(!out.prewarmed);
        d
    }

    /// A whole run on a pre-warmed instance: the pool is filled first, untimed.
    pub async fn run_prewarmed(&self) -> Duration {
        self.main.prewarm_now(SANDBOX, 1).await.expect("pre-warms");
        let t = Instant::now();
        let out = self
            .main
            .run(SANDBOX, &self.run_request)
            .await
            .expect("runs");
        let d = t.elapsed();
        assert!(out.prewarmed, "the run did not use the pre-warmed instance");
        d
    }

    /// Times one step once (the check of the file's digest before `deserialize-file` is not
    /// timed).
    pub async fn time(&self, step: LadderStep) -> Result<Duration> {
        let file = match step {
            LadderStep::DeserializeFile => Some(self.verified_file()?),
            _ => None,
        };
        let t = Instant::now();
        match step {
            LadderStep::Compile => drop(self.compile()),
            LadderStep::Deserialize => drop(self.deserialize()),
            LadderStep::DeserializeFile => drop(file.expect("verified above").load()?),
            LadderStep::InstancePre => drop(self.instance_pre()),
            LadderStep::InstantiateOndemand => self.instantiate(false).await,
            LadderStep::InstantiatePooled => self.instantiate(true).await,
            LadderStep::RunFresh => return Ok(self.run_fresh().await),
            LadderStep::RunPrewarmed => return Ok(self.run_prewarmed().await),
        }
        Ok(t.elapsed())
    }
}

/// The ladder's compiled-module file, its digest checked.
pub struct VerifiedFile {
    engine: Arc<dyn crate::engines::Engine>,
    path: PathBuf,
}

impl VerifiedFile {
    pub fn load(self) -> Result<Arc<dyn Code>> {
        // SAFETY: the file was written by `Ladder::new` from this engine's `serialize`, in a
        // private folder, and its digest matched just before.
        unsafe { self.engine.load_file(&self.path) }
    }
}

/// Writes `bytes` to a new file at `path`: created exclusively, no link followed, mode 0600.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop_command() -> Vec<u8> {
        wat::parse_str(
            r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{}\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_planted_where_the_module_used_to_go_is_not_followed() {
        let wasm = noop_command();
        let victim_dir = tempfile::tempdir().unwrap();
        let victim = victim_dir.path().join("victim");
        std::fs::write(&victim, b"not yours").unwrap();
        // Where the module file used to be written, predictably.
        let old = std::env::temp_dir().join(format!(
            "wow-ladder-{}-{}.cwasm",
            std::process::id(),
            blake3::hash(&wasm).to_hex()
        ));
        let _ = std::fs::remove_file(&old);
        std::os::unix::fs::symlink(&victim, &old).unwrap();
        let ladder = Ladder::new(EngineName::Wasmtime, &wasm, "{}")
            .await
            .unwrap();
        ladder.time(LadderStep::DeserializeFile).await.unwrap();
        drop(ladder);
        assert_eq!(std::fs::read(&victim).unwrap(), b"not yours");
        assert!(std::fs::symlink_metadata(&old).is_ok_and(|m| m.file_type().is_symlink()));
        std::fs::remove_file(&old).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tampered_module_file_is_not_loaded() {
        let ladder = Ladder::new(EngineName::Wasmtime, &noop_command(), "{}")
            .await
            .unwrap();
        ladder.deserialize_file().unwrap();
        let mode = std::fs::metadata(ladder._dir.path()).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o700
        );
        let mut bytes = std::fs::read(&ladder.cwasm_path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&ladder.cwasm_path, &bytes).unwrap();
        let e = ladder.time(LadderStep::DeserializeFile).await.unwrap_err();
        assert!(
            e.to_string().contains("changed since it was written"),
            "{e}"
        );
        assert!(ladder.deserialize_file().is_err());
    }
}
