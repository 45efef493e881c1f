//! The Wasm start-up ladder, measured in-process: each step a cold start may or may not pay,
//! from compiling the module down to running on a pre-warmed instance. The criterion benches
//! and the harness's `ladder` experiment both use these steps, so they measure the same thing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use base64::Engine as _;
use wasmtime::{InstancePre, Module};
use wow_protocol::{InitRequest, RunRequest};

use crate::config::{AllocatorChoice, ExecutorConfig};
use crate::executor::Executor;
use crate::guest::{GuestState, new_store};

/// The rungs, cheapest last: the shared vocabulary's [`LadderStep`]s, whose names the records
/// and charts use.
pub use wow_records::LadderStep;
pub const STEPS: &[LadderStep] = LadderStep::ALL;

const SANDBOX: &str = "ladder";

pub struct Ladder {
    pub pooled: Arc<Executor>,
    pub ondemand: Arc<Executor>,
    wasm: Vec<u8>,
    cwasm: Vec<u8>,
    cwasm_path: PathBuf,
    module_pooled: Module,
    pre_pooled: InstancePre<GuestState>,
    pre_ondemand: InstancePre<GuestState>,
    run_request: RunRequest,
}

impl Ladder {
    /// Sets up two executors (pooling and on-demand allocation) hosting `wasm`.
    pub async fn new(wasm: &[u8], params_json: &str) -> Result<Ladder> {
        let mut cfg = ExecutorConfig::in_process();
        // No background pre-warming: fresh runs instantiate; pre-warmed runs fill the pool
        // explicitly, untimed.
        cfg.prewarm.enabled = false;
        let pooled = Executor::new(ExecutorConfig {
            allocator: AllocatorChoice::Pooling,
            ..cfg.clone()
        })?;
        let mut od = cfg.clone();
        od.allocator = AllocatorChoice::OnDemand;
        let ondemand = Executor::new(od)?;
        let code = base64::engine::general_purpose::STANDARD.encode(wasm);
        for e in [&pooled, &ondemand] {
            e.init(
                SANDBOX,
                InitRequest::binary(SANDBOX, code.clone(), Default::default()),
            )
            .await
            .map_err(|f| anyhow!("init: {f}"))?;
        }
        let module_pooled =
            Module::new(&pooled.engine, wasm).map_err(|e| anyhow!("compile: {e:#}"))?;
        let module_ondemand =
            Module::new(&ondemand.engine, wasm).map_err(|e| anyhow!("compile: {e:#}"))?;
        let cwasm = module_pooled
            .serialize()
            .map_err(|e| anyhow!("serialize: {e:#}"))?;
        let cwasm_path = std::env::temp_dir().join(format!(
            "wow-ladder-{}-{}.cwasm",
            std::process::id(),
            blake3::hash(wasm).to_hex()
        ));
        std::fs::write(&cwasm_path, &cwasm)?;
        let pre_pooled = pooled.prepare(&module_pooled).map_err(|f| anyhow!("{f}"))?;
        let pre_ondemand = ondemand
            .prepare(&module_ondemand)
            .map_err(|f| anyhow!("{f}"))?;
        let run_request = RunRequest::parse(format!(r#"{{"value": {params_json}}}"#).as_bytes())
            .map_err(|f| anyhow!("{f}"))?;
        Ok(Ladder {
            pooled,
            ondemand,
            wasm: wasm.to_vec(),
            cwasm,
            cwasm_path,
            module_pooled,
            pre_pooled,
            pre_ondemand,
            run_request,
        })
    }

    pub fn compile(&self) -> Module {
        Module::new(&self.pooled.engine, &self.wasm).expect("compiles")
    }

    pub fn deserialize(&self) -> Module {
        // SAFETY: bytes produced by `serialize` of this engine in `new`.
        unsafe { Module::deserialize(&self.pooled.engine, &self.cwasm) }.expect("deserializes")
    }

    pub fn deserialize_file(&self) -> Module {
        // SAFETY: file written by `new` from this engine's `serialize`.
        unsafe { Module::deserialize_file(&self.pooled.engine, &self.cwasm_path) }
            .expect("deserializes")
    }

    pub fn instance_pre(&self) -> InstancePre<GuestState> {
        self.pooled.prepare(&self.module_pooled).expect("links")
    }

    /// A new store plus an instance of the module (not run), then dropped.
    pub async fn instantiate(&self, pooled: bool) {
        let (exec, pre) = if pooled {
            (&self.pooled, &self.pre_pooled)
        } else {
            (&self.ondemand, &self.pre_ondemand)
        };
        let mut store = new_store(&exec.engine, exec.config.limits.memory_bytes);
        pre.instantiate_async(&mut store)
            .await
            .expect("instantiates");
    }

    /// A whole run through the executor with a fresh instance (pooling allocator).
    pub async fn run_fresh(&self) -> Duration {
        let t = Instant::now();
        let out = self
            .pooled
            .run(SANDBOX, &self.run_request)
            .await
            .expect("runs");
        let d = t.elapsed();
        assert!(!out.prewarmed);
        d
    }

    /// A whole run on a pre-warmed instance: the pool is filled first, untimed.
    pub async fn run_prewarmed(&self) -> Duration {
        self.pooled
            .prewarm_now(SANDBOX, 1)
            .await
            .expect("pre-warms");
        let t = Instant::now();
        let out = self
            .pooled
            .run(SANDBOX, &self.run_request)
            .await
            .expect("runs");
        let d = t.elapsed();
        assert!(out.prewarmed, "the run did not use the pre-warmed instance");
        d
    }

    /// Times one step once.
    pub async fn time(&self, step: LadderStep) -> Duration {
        let t = Instant::now();
        match step {
            LadderStep::Compile => drop(self.compile()),
            LadderStep::Deserialize => drop(self.deserialize()),
            LadderStep::DeserializeFile => drop(self.deserialize_file()),
            LadderStep::InstancePre => drop(self.instance_pre()),
            LadderStep::InstantiateOndemand => self.instantiate(false).await,
            LadderStep::InstantiatePooled => self.instantiate(true).await,
            LadderStep::RunFresh => return self.run_fresh().await,
            LadderStep::RunPrewarmed => return self.run_prewarmed().await,
        }
        t.elapsed()
    }
}
impl Drop for Ladder {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.cwasm_path);
    }
}
