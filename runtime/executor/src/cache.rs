//! Compiled-artifact cache: the platform compiles each distinct module once.
//!
//! Keyed by the BLAKE3 digest of the `.wasm` bytes, in two tiers: compiled code in memory
//! (bounded by count, least recently used out first) and `.cwasm` files on disk (bounded by
//! bytes, in a private folder, each with a checksum checked when it is read: see `disk`) so a
//! restarted executor skips compilation too. Disk entries live under a folder named by the
//! engine's compatibility key, so an artifact from another engine, version or configuration is
//! never loaded; the engine checks it again on load where it can, and a file that fails its checksum or does not
//! load is deleted and recompiled.
//!
//! Concurrent `/init`s of the same new code compile it once: later callers wait for the first,
//! and a load whose callers all went away still finishes and is cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::engines::{Code, Engine};
use anyhow::Result;

use crate::config::CacheConfig;
use crate::disk;
use crate::lock::lock;

pub type Digest = [u8; 32];

/// Where an artifact came from: the init's "cold" (compile) or "warm" (cached) path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Memory,
    Disk,
    Compiled,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Memory => "memory",
            Source::Disk => "disk",
            Source::Compiled => "compiled",
        }
    }
}

#[derive(Default)]
pub struct CacheStats {
    pub memory_hits: AtomicU64,
    pub disk_hits: AtomicU64,
    pub compiles: AtomicU64,
    pub disk_evictions: AtomicU64,
    pub disk_bytes: AtomicU64,
    pub memory_entries: AtomicU64,
    /// Compiles running now (each holds a compile permit).
    pub compiling: AtomicU64,
}

struct MemEntry {
    module: Arc<dyn Code>,
    last_used: u64,
}

struct DiskEntry {
    bytes: u64,
    last_used: u64,
}

#[derive(Default)]
struct Tiers {
    tick: u64,
    memory: HashMap<Digest, MemEntry>,
    /// The digest of an `/init`'s code text (base64, as sent) → its module's digest: a text
    /// seen before finds its module without being decoded and checked again.
    texts: HashMap<Digest, Digest>,
    disk: HashMap<Digest, DiskEntry>,
    disk_total: u64,
}

/// The outcome of one load, shared by every caller that waited for it.
type Loaded = Option<std::result::Result<(Arc<dyn Code>, Source), String>>;
type Loading = tokio::sync::watch::Sender<Loaded>;
type Inflight = tokio::sync::watch::Receiver<Loaded>;

/// Removes a load from the in-flight table however its task ends.
struct LeaveInflight<'a> {
    cache: &'a ArtifactCache,
    digest: Digest,
}

impl Drop for LeaveInflight<'_> {
    fn drop(&mut self) {
        lock(&self.cache.inflight).remove(&self.digest);
    }
}

pub struct ArtifactCache {
    engine: Arc<dyn Engine>,
    dir: Option<PathBuf>,
    max_disk_bytes: u64,
    max_memory_entries: usize,
    tiers: Mutex<Tiers>,
    inflight: Mutex<HashMap<Digest, Inflight>>,
    /// Compiles that may run at once: each holds the whole module's IR in memory.
    compile_gate: Arc<tokio::sync::Semaphore>,
    pub stats: CacheStats,
}

impl ArtifactCache {
    /// Opens the cache, indexing the `.cwasm` files already on disk for this engine.
    pub fn open(engine: &Arc<dyn Engine>, cfg: &CacheConfig) -> Result<Self> {
        let dir = cfg
            .dir
            .as_ref()
            .and_then(|root| match disk::open_private(root, engine.key()) {
                Ok(dir) => Some(dir),
                Err(e) => {
                    tracing::warn!(
                        "the artifact cache {} is not used, artifacts stay in memory: {e:#}",
                        root.display()
                    );
                    None
                }
            });
        let mut tiers = Tiers::default();
        if let Some(dir) = &dir {
            let swept = disk::sweep_temporaries(dir)?;
            if swept > 0 {
                tracing::info!("removed {swept} temporary files left in {}", dir.display());
            }
            let mut found: Vec<(std::time::SystemTime, Digest, u64)> = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let path = entry.path();
                let Some(digest) = digest_from_path(&path) else {
                    continue;
                };
                // Regular files only: a link is never followed, so never indexed.
                let meta = std::fs::symlink_metadata(&path)?;
                if !meta.file_type().is_file() {
                    continue;
                }
                found.push((meta.modified()?, digest, meta.len()));
            }
            found.sort();
            for (_, digest, bytes) in found {
                tiers.tick += 1;
                tiers.disk_total += bytes;
                tiers.disk.insert(
                    digest,
                    DiskEntry {
                        bytes,
                        last_used: tiers.tick,
                    },
                );
            }
        }
        let cache = ArtifactCache {
            engine: engine.clone(),
            dir,
            max_disk_bytes: cfg.max_disk_bytes,
            max_memory_entries: cfg.max_memory_entries.max(1),
            tiers: Mutex::new(tiers),
            inflight: Mutex::new(HashMap::new()),
            compile_gate: Arc::new(tokio::sync::Semaphore::new(compile_concurrency(
                cfg.compile_concurrency,
            ))),
            stats: CacheStats::default(),
        };
        cache.evict_disk();
        cache.publish_sizes();
        Ok(cache)
    }

    pub fn digest(wasm: &[u8]) -> Digest {
        *blake3::hash(wasm).as_bytes()
    }

    /// The compiled module for `wasm`, from memory, disk, or by compiling it (off the async
    /// threads). Compile errors come back as text for the caller's init error.
    ///
    /// The load runs in a task of its own that outlives its callers: a caller that goes away
    /// (its client disconnected) leaves the load to finish, to be cached and forgotten from the
    /// in-flight table, rather than an in-flight entry nobody completes.
    pub async fn get(
        self: &Arc<Self>,
        digest: Digest,
        wasm: bytes::Bytes,
    ) -> std::result::Result<(Arc<dyn Code>, Source), String> {
        if let Some(m) = self.memory_get(&digest) {
            self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((m, Source::Memory));
        }
        let (mut rx, leader) = {
            let mut inflight = lock(&self.inflight);
            match inflight.get(&digest) {
                Some(rx) => (rx.clone(), false),
                None => {
                    // A load may have finished since the first look: it caches the module
                    // before it leaves the in-flight table.
                    if let Some(m) = self.memory_get(&digest) {
                        self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
                        return Ok((m, Source::Memory));
                    }
                    let (tx, rx) = tokio::sync::watch::channel(None);
                    inflight.insert(digest, rx.clone());
                    self.spawn_load(digest, wasm, tx);
                    (rx, true)
                }
            }
        };
        let loaded = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| "the compilation task ended without a result".to_string())?
            .clone()
            .expect("waited for a result");
        let (module, source) = loaded?;
        if leader {
            Ok((module, source))
        } else {
            // Another caller loaded it while this one waited: a memory hit for this one.
            self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
            Ok((module, Source::Memory))
        }
    }

    /// Loads or compiles `digest` in a task of its own, caches the result, leaves the
    /// in-flight table and publishes the result to the waiters, in that order.
    fn spawn_load(self: &Arc<Self>, digest: Digest, wasm: bytes::Bytes, tx: Loading) {
        let this = self.clone();
        tokio::spawn(async move {
            let _leave = LeaveInflight {
                cache: &this,
                digest,
            };
            let result = this.load_or_compile(digest, wasm).await;
            if let Ok((module, source)) = &result {
                this.memory_put(digest, module.clone());
                match source {
                    Source::Disk => this.stats.disk_hits.fetch_add(1, Ordering::Relaxed),
                    _ => this.stats.compiles.fetch_add(1, Ordering::Relaxed),
                };
            }
            drop(_leave);
            let _ = tx.send(Some(result));
        });
    }

    /// Loads of distinct modules under way (compiling or reading from disk).
    pub fn inflight(&self) -> usize {
        lock(&self.inflight).len()
    }

    /// The module of an `/init` code text whose digest is `text`, when that text was seen
    /// before ([`ArtifactCache::remember_text`]) and its module is in the memory tier (a memory
    /// hit). Returns the module's digest with it.
    pub fn by_text(&self, text: &Digest) -> Option<(Digest, Arc<dyn Code>)> {
        let digest = *lock(&self.tiers).texts.get(text)?;
        let m = self.memory_get(&digest)?;
        self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
        Some((digest, m))
    }

    /// Notes that the code text with digest `text` decodes to the module `digest`, which passed
    /// the executor's checks. The table is bounded: past four entries per memory-tier module
    /// it starts over.
    pub fn remember_text(&self, text: Digest, digest: Digest) {
        let mut t = lock(&self.tiers);
        if t.texts.len() >= 4 * self.max_memory_entries {
            t.texts.clear();
        }
        t.texts.insert(text, digest);
    }

    fn memory_get(&self, digest: &Digest) -> Option<Arc<dyn Code>> {
        let mut t = lock(&self.tiers);
        t.tick += 1;
        let tick = t.tick;
        t.memory.get_mut(digest).map(|e| {
            e.last_used = tick;
            e.module.clone()
        })
    }

    fn memory_put(&self, digest: Digest, module: Arc<dyn Code>) {
        let mut t = lock(&self.tiers);
        t.tick += 1;
        let tick = t.tick;
        t.memory.insert(
            digest,
            MemEntry {
                module,
                last_used: tick,
            },
        );
        while t.memory.len() > self.max_memory_entries {
            let oldest = *t
                .memory
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(d, _)| d)
                .expect("non-empty");
            t.memory.remove(&oldest);
        }
        self.stats
            .memory_entries
            .store(t.memory.len() as u64, Ordering::Relaxed);
    }

    /// Runs on a blocking thread: the module from the disk tier, if there, intact and
    /// loadable. A file that fails its checksum or does not load is removed (and recompiled).
    fn load_from_disk(&self, digest: Digest) -> Option<Arc<dyn Code>> {
        let path = self.disk_path(&digest)?;
        if !lock(&self.tiers).disk.contains_key(&digest) {
            return None;
        }
        let loaded = disk::read_artifact(&path).and_then(|file| {
            // SAFETY: the bytes match the checksum this cache wrote beside them, in a private
            // folder named by the engine's compatibility key, from a module this engine
            // compiled; the engine re-checks what it can on load.
            unsafe { self.engine.load(disk::payload(&file)) }
        });
        match loaded {
            Ok(m) => {
                self.touch_disk(&digest);
                Some(m)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "dropping unloadable artifact: {e:#}");
                self.forget_disk(&digest);
                None
            }
        }
    }

    /// Runs on a blocking thread, holding a compile permit: compiles, and writes the artifact
    /// to disk.
    fn compile(&self, digest: Digest, wasm: &[u8]) -> std::result::Result<Arc<dyn Code>, String> {
        self.stats.compiling.fetch_add(1, Ordering::Relaxed);
        let module = self.engine.compile(wasm).map_err(|e| format!("{e:#}"));
        self.stats.compiling.fetch_sub(1, Ordering::Relaxed);
        let module = match module {
            Ok(m) => m,
            Err(e) => {
                release_freed_memory();
                return Err(e);
            }
        };
        if let Some(path) = self.disk_path(&digest) {
            match self.engine.serialize(&*module, wasm) {
                Ok(bytes) => {
                    if let Err(e) = self.store_on_disk(&digest, &path, &bytes) {
                        tracing::warn!("cannot cache artifact on disk: {e:#}");
                    }
                }
                Err(e) => tracing::warn!("cannot serialize artifact: {e:#}"),
            }
        }
        // After the serialized copy is gone too.
        release_freed_memory();
        Ok(module)
    }

    /// The module from disk, else compiled once a compile permit is free.
    async fn load_or_compile(
        self: &Arc<Self>,
        digest: Digest,
        wasm: bytes::Bytes,
    ) -> std::result::Result<(Arc<dyn Code>, Source), String> {
        let failed = |e: tokio::task::JoinError| format!("compilation task failed: {e}");
        if self.dir.is_some() {
            let this = self.clone();
            if let Some(m) = tokio::task::spawn_blocking(move || this.load_from_disk(digest))
                .await
                .map_err(failed)?
            {
                return Ok((m, Source::Disk));
            }
        }
        let permit = self
            .compile_gate
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let this = self.clone();
        let module = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.compile(digest, &wasm)
        })
        .await
        .map_err(failed)??;
        Ok((module, Source::Compiled))
    }

    /// Writes an artifact to disk. Its size counts against the bound before it is written.
    fn store_on_disk(&self, digest: &Digest, path: &Path, payload: &[u8]) -> Result<()> {
        let bytes = disk::file_size(payload.len());
        if bytes > self.max_disk_bytes {
            return Ok(());
        }
        {
            let mut t = lock(&self.tiers);
            t.tick += 1;
            let tick = t.tick;
            if let Some(old) = t.disk.insert(
                *digest,
                DiskEntry {
                    bytes,
                    last_used: tick,
                },
            ) {
                t.disk_total -= old.bytes;
            }
            t.disk_total += bytes;
        }
        self.evict_disk();
        let written = disk::write_artifact(path, payload);
        if written.is_err() {
            self.forget_disk(digest);
        }
        self.publish_sizes();
        written
    }

    fn touch_disk(&self, digest: &Digest) {
        let mut t = lock(&self.tiers);
        t.tick += 1;
        let tick = t.tick;
        if let Some(e) = t.disk.get_mut(digest) {
            e.last_used = tick;
        }
    }

    fn forget_disk(&self, digest: &Digest) {
        if let Some(path) = self.disk_path(digest) {
            let _ = std::fs::remove_file(path);
        }
        let mut t = lock(&self.tiers);
        if let Some(old) = t.disk.remove(digest) {
            t.disk_total -= old.bytes;
        }
    }

    fn evict_disk(&self) {
        loop {
            let victim = {
                let t = lock(&self.tiers);
                if t.disk_total <= self.max_disk_bytes {
                    break;
                }
                t.disk
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(d, _)| *d)
            };
            match victim {
                Some(d) => {
                    self.forget_disk(&d);
                    self.stats.disk_evictions.fetch_add(1, Ordering::Relaxed);
                }
                None => break,
            }
        }
    }

    fn publish_sizes(&self) {
        let t = lock(&self.tiers);
        self.stats.disk_bytes.store(t.disk_total, Ordering::Relaxed);
        self.stats
            .memory_entries
            .store(t.memory.len() as u64, Ordering::Relaxed);
    }

    fn disk_path(&self, digest: &Digest) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.cwasm", hex(digest))))
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Poisons the cache's locks, for tests of what follows a panic.
    #[cfg(test)]
    pub(crate) fn poison_locks(&self) {
        crate::lock::poison(&self.tiers);
        crate::lock::poison(&self.inflight);
    }

    /// Entries on disk and their total size, for tests and metrics.
    pub fn disk_usage(&self) -> (usize, u64) {
        let t = lock(&self.tiers);
        (t.disk.len(), t.disk_total)
    }
}

/// Compiling allocates far more than the module keeps; glibc holds freed memory in per-thread
/// arenas, so without this the executor's RSS would carry every compilation's garbage.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Compiles allowed at once: `configured`, or one per core when 0.
fn compile_concurrency(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

pub fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_from_path(path: &Path) -> Option<Digest> {
    if path.extension()? != "cwasm" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 64 {
        return None;
    }
    let mut d = [0u8; 32];
    for (i, chunk) in stem.as_bytes().chunks(2).enumerate() {
        d[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(d)
}
