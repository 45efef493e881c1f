//! WAMR (the WebAssembly Micro Runtime) through `wamr-sys` 0.1.1, the binding the WOW paper's
//! system used: WAMR's C sources of late 2020, built by cmake as the fast interpreter.
//!
//! That WAMR keeps one runtime per process, has no per-instance stdio and no way to stop a running
//! instance from another thread or to watch its memory grow. So:
//! - WAMR's own libc-wasi is built out (`wamr-build.cmake`) and `wasi_snapshot_preview1` is served
//!   by the host functions below, against the state of the run calling them (the exec env's user
//!   data): in-memory stdin/stdout/stderr, args and env per run, nothing else.
//! - Every module is rewritten at compile time (wasm-encoder): two mutable globals are appended; a
//!   check of the first (`stop`) at every function entry and loop head traps when the host sets it
//!   at the deadline, and every `memory.grow` that fails records the pages it asked for in the
//!   second (`refused`). The re-encoding also writes `call_indirect` table indices as one byte,
//!   which this WAMR requires and current LLVM pads to five.
//! - The host reads and writes those globals, and caps the memory per instance (its
//!   `max_page_count`), through `#[repr(C)]` mirrors of WAMR's interpreter instance structs for
//!   this exact source version and build flags, checked against what is known at instantiation.

use std::any::Any;
use std::ffi::{CStr, c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use wamr_sys as sys;
use wasm_encoder::reencode::{Reencode, utils};
use wasmparser::{Operator, Payload, TypeRef, ValType, WasmFeatures};
use wow_protocol::Failure;

use super::{
    AllocatorInfo, BoxFuture, CappedBuffer, Code, Engine, EngineInfo, EngineName, Exit, Instance,
    Mode, Prepared, RunEnd, RunIo,
};
use crate::admission::Charge;

const PAGE: u64 = 65536;
const WASI: &str = "wasi_snapshot_preview1";

/// What the engine needs besides the per-run limits the executor passes.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// WAMR's interpreter stack (frames and operand stacks) per run, bytes.
    pub wasm_stack_bytes: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            wasm_stack_bytes: 512 * 1024,
        }
    }
}

pub struct Wamr {
    info: EngineInfo,
    key: String,
    stack: u32,
}

impl Wamr {
    /// Starts the process's one WAMR runtime (once) and registers the WASI host functions.
    pub fn new(cfg: &EngineConfig) -> anyhow::Result<Wamr> {
        init_runtime().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Wamr {
            info: EngineInfo {
                name: EngineName::Wamr,
                // wamr-sys 0.1.1 bundles the WAMR sources of December 2020.
                version: env!("WOW_WAMR_VERSION"),
                mode: Mode::Interpreter,
                tier: "fast-interp",
                allocator: AllocatorInfo::on_demand(
                    "WAMR mallocs each instance's linear memory and reallocs it on memory.grow",
                ),
                deadline: "stop flag at loop heads and calls",
                prewarm: true,
            },
            key: format!("wamr-sys-0.1.1-fast-interp-{METER_VERSION}"),
            stack: cfg.wasm_stack_bytes,
        })
    }
}

/// Names the rewriting in the cache key: the artifact is the original wasm, rewritten at load.
const METER_VERSION: &str = "meter1";

static RUNTIME: OnceLock<Result<(), String>> = OnceLock::new();

fn init_runtime() -> Result<(), String> {
    RUNTIME
        .get_or_init(|| {
            // SAFETY: called once per process (OnceLock); the symbol table is leaked, as WAMR
            // keeps pointers into it for good.
            unsafe {
                if !sys::wasm_runtime_init() {
                    return Err("wasm_runtime_init failed".into());
                }
                let table: &'static mut [sys::NativeSymbol] = Box::leak(native_symbols());
                let module: &'static CStr = c"wasi_snapshot_preview1";
                if !sys::wasm_runtime_register_natives_raw(
                    module.as_ptr(),
                    table.as_mut_ptr(),
                    table.len() as u32,
                ) {
                    return Err("cannot register the WASI host functions with WAMR".into());
                }
            }
            Ok(())
        })
        .clone()
}

// ---------------------------------------------------------------------------------------------
// Mirrors of WAMR's interpreter structs (core/iwasm/interpreter/wasm_runtime.h of this version,
// built with MULTI_MODULE=0, SHARED_MEMORY=0, LIBC_WASI=0: the fields after `global_data` are not
// mirrored and never touched).

#[repr(C)]
struct RawMemory {
    module_type: u32,
    is_shared: bool,
    num_bytes_per_page: u32,
    cur_page_count: u32,
    max_page_count: u32,
    heap_data: *mut u8,
    heap_data_end: *mut u8,
    heap_handle: *mut c_void,
    memory_data_end: *mut u8,
    memory_data: *mut u8,
}

#[repr(C)]
struct RawGlobal {
    ty: u8,
    is_mutable: bool,
    data_offset: u32,
    /// `WASMValue`, a union of 16 bytes (it includes `V128` whatever the SIMD flag).
    initial_value: [u64; 2],
}

#[repr(C)]
struct RawInstance {
    module_type: u32,
    memory_count: u32,
    table_count: u32,
    global_count: u32,
    function_count: u32,
    export_func_count: u32,
    memories: *mut *mut RawMemory,
    tables: *mut c_void,
    globals: *mut RawGlobal,
    functions: *mut c_void,
    export_functions: *mut c_void,
    default_memory: *mut RawMemory,
    default_table: *mut c_void,
    global_data: *mut u8,
}

/// WAMR's `VALUE_TYPE_I32`.
const VALUE_TYPE_I32: u8 = 0x7f;

// ---------------------------------------------------------------------------------------------
// Compile: validate, rewrite, load.

/// What compile learns about a module.
#[derive(Debug, Default)]
struct ModuleFacts {
    /// Imported functions: module, name, WAMR signature (`(iI)i`), or None for a non-function.
    imports: Vec<(String, String, Option<String>)>,
    has_start: bool,
    /// Memory 0: initial and declared maximum pages.
    memory: Option<(u64, Option<u64>)>,
    /// Globals before the two appended ones (imported ones included).
    globals: u32,
    /// Parameter counts of the defined functions, in order.
    params: Vec<u32>,
}

fn sig_char(t: ValType) -> char {
    match t {
        ValType::I32 => 'i',
        ValType::I64 => 'I',
        ValType::F32 => 'f',
        ValType::F64 => 'F',
        _ => '?',
    }
}

fn facts(wasm: &[u8]) -> anyhow::Result<ModuleFacts> {
    let mut f = ModuleFacts::default();
    let mut types: Vec<wasmparser::FuncType> = Vec::new();
    let mut start_fn: Option<u32> = None;
    let mut func_types: Vec<u32> = Vec::new();
    let mut imported_funcs: Vec<u32> = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(r) => {
                for t in r.into_iter_err_on_gc_types() {
                    types.push(t?);
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    let imp = imp?;
                    let sig = match imp.ty {
                        TypeRef::Func(t) => {
                            imported_funcs.push(t);
                            let ty = types
                                .get(t as usize)
                                .ok_or_else(|| anyhow::anyhow!("bad type index"))?;
                            let p: String = ty.params().iter().map(|v| sig_char(*v)).collect();
                            let r: String = ty.results().iter().map(|v| sig_char(*v)).collect();
                            Some(format!("({p}){r}"))
                        }
                        TypeRef::Global(_) => {
                            f.globals += 1;
                            None
                        }
                        TypeRef::Memory(m) => {
                            f.memory.get_or_insert((m.initial, m.maximum));
                            None
                        }
                        _ => None,
                    };
                    f.imports
                        .push((imp.module.to_string(), imp.name.to_string(), sig));
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    let t = t?;
                    func_types.push(t);
                    let ty = types
                        .get(t as usize)
                        .ok_or_else(|| anyhow::anyhow!("bad type index"))?;
                    f.params.push(ty.params().len() as u32);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m?;
                    f.memory.get_or_insert((m.initial, m.maximum));
                }
            }
            Payload::GlobalSection(r) => f.globals += r.count(),
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e?;
                    if e.name == "_start" && e.kind == wasmparser::ExternalKind::Func {
                        start_fn = Some(e.index);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(idx) = start_fn {
        let n = imported_funcs.len() as u32;
        let ty = if idx < n {
            imported_funcs.get(idx as usize)
        } else {
            func_types.get((idx - n) as usize)
        };
        f.has_start = ty
            .and_then(|t| types.get(*t as usize))
            .is_some_and(|t| t.params().is_empty() && t.results().is_empty());
    }
    Ok(f)
}

/// Re-encodes a module with the stop check and the memory.grow record.
struct Meter<'f> {
    facts: &'f ModuleFacts,
    stop: u32,
    refused: u32,
    func: usize,
    globals_added: bool,
}

impl Meter<'_> {
    fn add_globals(&mut self, globals: &mut wasm_encoder::GlobalSection) {
        for _ in 0..2 {
            globals.global(
                wasm_encoder::GlobalType {
                    val_type: wasm_encoder::ValType::I32,
                    mutable: true,
                    shared: false,
                },
                &wasm_encoder::ConstExpr::i32_const(0),
            );
        }
        self.globals_added = true;
    }

    fn check(&self, f: &mut wasm_encoder::Function) {
        f.instructions()
            .global_get(self.stop)
            .if_(wasm_encoder::BlockType::Empty)
            .unreachable()
            .end();
    }
}

/// Section order by the binary format (tags and data count sit between the numbered ones).
fn section_order(id: wasm_encoder::SectionId) -> u32 {
    use wasm_encoder::SectionId as S;
    match id {
        S::Tag => 55,
        S::DataCount => 95,
        other => other as u32 * 10,
    }
}

impl Reencode for Meter<'_> {
    type Error = std::convert::Infallible;

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        utils::parse_global_section(self, globals, section)?;
        self.add_globals(globals);
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<wasm_encoder::SectionId>,
        before: Option<wasm_encoder::SectionId>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        let global = section_order(wasm_encoder::SectionId::Global);
        if !self.globals_added && before.is_none_or(|b| section_order(b) > global) {
            let mut globals = wasm_encoder::GlobalSection::new();
            self.add_globals(&mut globals);
            module.section(&globals);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        let mut locals = Vec::new();
        let mut next = self.facts.params.get(self.func).copied().unwrap_or(0);
        self.func += 1;
        for pair in func.get_locals_reader()? {
            let (n, ty) = pair?;
            next = next.saturating_add(n);
            locals.push((n, self.val_type(ty)?));
        }
        let (asked, got) = (next, next + 1);
        locals.push((2, wasm_encoder::ValType::I32));
        let mut f = wasm_encoder::Function::new(locals);
        self.check(&mut f);
        let mut ops = func.get_operators_reader()?;
        while !ops.eof() {
            match ops.read()? {
                op @ Operator::Loop { .. } => {
                    f.instruction(&self.instruction(op)?);
                    self.check(&mut f);
                }
                Operator::MemoryGrow { mem: 0 } => {
                    f.instructions()
                        .local_tee(asked)
                        .memory_grow(0)
                        .local_tee(got)
                        .i32_const(-1)
                        .i32_eq()
                        .if_(wasm_encoder::BlockType::Empty)
                        .local_get(asked)
                        .global_set(self.refused)
                        .end()
                        .local_get(got);
                }
                op => {
                    f.instruction(&self.instruction(op)?);
                }
            }
        }
        code.function(&f);
        Ok(())
    }
}

fn instrument(wasm: &[u8], facts: &ModuleFacts) -> anyhow::Result<Vec<u8>> {
    let mut meter = Meter {
        facts,
        stop: facts.globals,
        refused: facts.globals + 1,
        func: 0,
        globals_added: false,
    };
    let mut module = wasm_encoder::Module::new();
    meter
        .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .map_err(|e| anyhow::anyhow!("cannot rewrite the module: {e}"))?;
    Ok(module.finish())
}

/// A module loaded into WAMR, with the buffer it was loaded from (WAMR keeps pointers into it).
pub struct WamrCode {
    module: sys::wasm_module_t,
    _buf: Box<[u8]>,
    facts: ModuleFacts,
    code_bytes: u64,
}

// SAFETY: a loaded WAMR module is read-only after loading; instantiation from several threads
// reads it only. It is unloaded once, in Drop, after every instance (each holds an Arc) is gone.
unsafe impl Send for WamrCode {}
unsafe impl Sync for WamrCode {}

impl Drop for WamrCode {
    fn drop(&mut self) {
        // SAFETY: loaded by wasm_runtime_load, unloaded once; no instance is left (see above).
        unsafe { sys::wasm_runtime_unload(self.module) }
    }
}

impl Code for WamrCode {
    fn code_bytes(&self) -> u64 {
        self.code_bytes
    }

    fn initial_memory_bytes(&self) -> u64 {
        self.facts.memory.map_or(0, |(init, _)| init * PAGE)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn c_error(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Engine for Wamr {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn key(&self) -> &str {
        &self.key
    }

    fn compile(&self, wasm: &[u8]) -> anyhow::Result<Arc<dyn Code>> {
        let features = WasmFeatures::default() - WasmFeatures::SIMD - WasmFeatures::RELAXED_SIMD;
        if let Err(e) = wasmparser::Validator::new_with_features(features).validate_all(wasm) {
            if wasmparser::Validator::new().validate_all(wasm).is_ok() {
                anyhow::bail!(
                    "this WAMR's interpreter cannot run the module: it uses a Wasm feature it \
                     lacks ({e}); SIMD (v128) is one"
                );
            }
            anyhow::bail!("invalid module: {e}");
        }
        let facts = facts(wasm)?;
        let rewritten = instrument(wasm, &facts)?;
        let mut buf = rewritten.into_boxed_slice();
        let mut err = [0 as c_char; 128];
        // SAFETY: `buf` is owned by the Code and outlives the module (dropped after unload).
        let module = unsafe {
            sys::wasm_runtime_load(
                buf.as_mut_ptr(),
                buf.len() as u32,
                err.as_mut_ptr(),
                err.len() as u32,
            )
        };
        if module.is_null() {
            anyhow::bail!("WAMR cannot load the module: {}", c_error(&err));
        }
        Ok(Arc::new(WamrCode {
            module,
            code_bytes: buf.len() as u64,
            _buf: buf,
            facts,
        }))
    }

    fn serialize(&self, _code: &dyn Code, wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
        // Nothing compiled to keep: the interpreter translates at load, and the rewriting is
        // deterministic, so the artifact is the original module.
        Ok(wasm.to_vec())
    }

    unsafe fn load(&self, bytes: &[u8]) -> anyhow::Result<Arc<dyn Code>> {
        self.compile(bytes)
    }

    fn prepare(&self, code: &Arc<dyn Code>) -> Result<Arc<dyn Prepared>, Failure> {
        let code: Arc<WamrCode> = code
            .clone()
            .as_any()
            .downcast_ref::<WamrCode>()
            .map(|_| {
                // SAFETY: the downcast just checked the concrete type behind the Arc.
                unsafe { Arc::from_raw(Arc::into_raw(code.clone()) as *const WamrCode) }
            })
            .ok_or_else(|| Failure::Internal("code compiled by another engine".into()))?;
        if !code.facts.has_start {
            return Err(super::not_a_command());
        }
        for (module, name, sig) in &code.facts.imports {
            let linkable = module == WASI
                && sig.as_deref().is_some_and(|s| match signature_of(name) {
                    Some(Some(expected)) => expected == s,
                    Some(None) => true,
                    None => false,
                });
            if !linkable {
                return Err(Failure::InitFailed(format!(
                    "It cannot be linked: unknown import `{module}::{name}`{}.",
                    sig.as_deref()
                        .map(|s| format!(" with signature {s}"))
                        .unwrap_or_default()
                )));
            }
        }
        Ok(Arc::new(WamrPrepared {
            code,
            stack: self.stack,
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Instances.

struct WamrPrepared {
    code: Arc<WamrCode>,
    stack: u32,
}

impl Prepared for WamrPrepared {
    fn instantiate(
        &self,
        memory_bytes: u64,
        charge: Charge,
    ) -> BoxFuture<'_, Result<Box<dyn Instance>, Failure>> {
        Box::pin(async move {
            let initial = self.code.initial_memory_bytes();
            if initial > memory_bytes {
                return Err(super::initial_memory_over(initial, memory_bytes));
            }
            let mut err = [0 as c_char; 128];
            // SAFETY: the module stays loaded while `code` (held by the instance) lives. No app
            // heap (0): WASI guests bring their own allocator.
            let inst = unsafe {
                sys::wasm_runtime_instantiate(
                    self.code.module,
                    self.stack,
                    0,
                    err.as_mut_ptr(),
                    err.len() as u32,
                )
            };
            if inst.is_null() {
                return Err(Failure::ActionFailed(format!(
                    "The action could not be instantiated: {}.",
                    c_error(&err)
                )));
            }
            let mut instance = WamrInstance {
                inst,
                code: self.code.clone(),
                stack: self.stack,
                memory_bytes,
                charge: Some(charge),
                stop: ptr::null_mut(),
                refused: ptr::null_mut(),
            };
            // SAFETY: `inst` is a live interpreter instance of this WAMR build (see the mirrors).
            unsafe { instance.attach() }?;
            Ok(Box::new(instance) as Box<dyn Instance>)
        })
    }
}

struct WamrInstance {
    inst: sys::wasm_module_inst_t,
    code: Arc<WamrCode>,
    stack: u32,
    memory_bytes: u64,
    charge: Option<Charge>,
    stop: *mut i32,
    refused: *mut i32,
}

// SAFETY: the instance is used by one thread at a time (it moves into the run's blocking task);
// the stop flag is written from elsewhere only through `Stopper`, atomically.
unsafe impl Send for WamrInstance {}

impl Drop for WamrInstance {
    fn drop(&mut self) {
        // SAFETY: instantiated once, deinstantiated once; the module outlives it (`code`).
        unsafe { sys::wasm_runtime_deinstantiate(self.inst) }
    }
}

fn layout_mismatch(what: &str) -> Failure {
    Failure::Internal(format!(
        "WAMR's instance layout is not the one this build expects ({what})"
    ))
}

impl WamrInstance {
    /// Finds the appended globals, checks the struct mirrors against what the module declares,
    /// and caps the memory.
    unsafe fn attach(&mut self) -> Result<(), Failure> {
        let facts = &self.code.facts;
        // SAFETY: the caller's contract; the checks below catch a layout that differs.
        unsafe {
            let raw = &*(self.inst as *const RawInstance);
            if raw.module_type != 0 || raw.global_count != facts.globals + 2 {
                return Err(layout_mismatch("module type or global count"));
            }
            let global = |i: u32| -> Result<*mut i32, Failure> {
                let g = &*raw.globals.add(i as usize);
                let p = raw.global_data.add(g.data_offset as usize) as *mut i32;
                if g.ty != VALUE_TYPE_I32 || !g.is_mutable || !(p as usize).is_multiple_of(4) {
                    return Err(layout_mismatch("appended globals"));
                }
                Ok(p)
            };
            self.stop = global(facts.globals)?;
            self.refused = global(facts.globals + 1)?;
            if let Some((initial, max)) = facts.memory {
                let m = raw.default_memory;
                if m.is_null() {
                    return Err(layout_mismatch("memory: none"));
                }
                let (pages, page) = ((*m).cur_page_count as u64, (*m).num_bytes_per_page as u64);
                if page != PAGE || pages != initial {
                    // A module with no `memory.grow` gets its whole initial memory as one page
                    // of that size: it cannot grow, so there is nothing to cap.
                    if pages == 1 && page == initial * PAGE && (*m).max_page_count == 1 {
                        return Ok(());
                    }
                    return Err(layout_mismatch(&format!(
                        "memory: {pages} pages of {page} bytes, the module declares {initial} of {PAGE}"
                    )));
                }
                let cap = (self.memory_bytes / PAGE).min(max.unwrap_or(u64::MAX));
                (*m).max_page_count = (*m).max_page_count.min(cap.min(65535) as u32);
            }
        }
        Ok(())
    }

    fn memory_len(&self) -> u64 {
        // SAFETY: a live instance; memory fields are read on the thread that runs it.
        unsafe {
            let m = (*(self.inst as *const RawInstance)).default_memory;
            if m.is_null() {
                0
            } else {
                (*m).cur_page_count as u64 * (*m).num_bytes_per_page as u64
            }
        }
    }
}

/// Lets the run's async side set the stop flag at the deadline while the guest runs, and never
/// after its instance is gone.
struct Stopper {
    flag: Mutex<Option<usize>>,
    fired: AtomicBool,
}

impl Stopper {
    fn fire(&self) {
        let flag = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(addr) = *flag {
            // SAFETY: the address is the stop global of a live instance (cleared, under this
            // lock, before it is deinstantiated); i32-aligned (checked at attach).
            unsafe { AtomicI32::from_ptr(addr as *mut i32) }.store(1, Ordering::SeqCst);
            self.fired.store(true, Ordering::SeqCst);
        }
    }

    fn disarm(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Why a host function stops the guest.
enum Stop {
    Exit,
    Deadline,
    Budget,
}

/// The state of one run, which the host functions reach through the exec env's user data.
struct RunState {
    stdin: Bytes,
    stdin_pos: usize,
    stdout: CappedBuffer,
    stderr: CappedBuffer,
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    deadline: Instant,
    charge: Option<Charge>,
    stopped: Option<Stop>,
    over_budget: Option<usize>,
}

impl Instance for WamrInstance {
    fn run(self: Box<Self>, io: RunIo) -> BoxFuture<'static, RunEnd> {
        Box::pin(async move {
            let deadline = io.deadline;
            let stopper = Arc::new(Stopper {
                flag: Mutex::new(Some(self.stop as usize)),
                fired: AtomicBool::new(false),
            });
            let guest_stopper = stopper.clone();
            let mut task =
                tokio::task::spawn_blocking(move || run_blocking(*self, io, &guest_stopper));
            let joined = match tokio::time::timeout_at(deadline.into(), &mut task).await {
                Ok(joined) => joined,
                Err(_) => {
                    // The guest stops at its next loop head, function entry or host call.
                    stopper.fire();
                    task.await
                }
            };
            joined.unwrap_or_else(|e| RunEnd {
                stdout: Bytes::new(),
                stderr: Bytes::new(),
                exit: Exit::Failed(Failure::Internal(format!("the run's thread failed: {e}"))),
                over_budget: None,
                setup: None,
                teardown: None,
            })
        })
    }
}

fn run_blocking(mut me: WamrInstance, io: RunIo, stopper: &Stopper) -> RunEnd {
    let nul = |s: &str| {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    };
    let mut state = RunState {
        stdin: io.stdin,
        stdin_pos: 0,
        stdout: CappedBuffer::new(io.stdout_cap),
        stderr: CappedBuffer::new(io.stderr_cap),
        args: io.args.iter().map(|a| nul(a)).collect(),
        env: io
            .env
            .iter()
            .map(|(k, v)| nul(&format!("{k}={v}")))
            .collect(),
        deadline: io.deadline,
        charge: me.charge.take(),
        stopped: None,
        over_budget: None,
    };
    let mut trap: Option<String> = None;
    // SAFETY: the exec env is created on this thread (WAMR takes its native stack bounds from
    // it), points at `state` only while `state` lives, and is destroyed before it.
    let ok = unsafe {
        let env = sys::wasm_runtime_create_exec_env(me.inst, me.stack);
        if env.is_null() {
            trap = Some("cannot create an execution environment".into());
            false
        } else {
            sys::wasm_runtime_set_user_data(env, &mut state as *mut RunState as *mut c_void);
            let start = sys::wasm_runtime_lookup_function(me.inst, c"_start".as_ptr(), ptr::null());
            let mut argv = [0u32; 2];
            let ok =
                !start.is_null() && sys::wasm_runtime_call_wasm(env, start, 0, argv.as_mut_ptr());
            if !ok {
                let e = sys::wasm_runtime_get_exception(me.inst);
                trap = Some(if e.is_null() {
                    "no _start".into()
                } else {
                    let s = CStr::from_ptr(e).to_string_lossy();
                    s.strip_prefix("Exception: ").unwrap_or(&s).to_string()
                });
            }
            sys::wasm_runtime_destroy_exec_env(env);
            ok
        }
    };
    stopper.disarm();
    // SAFETY: the appended global of the live instance, read after the run on its thread.
    let refused_pages = unsafe { *me.refused } as u32 as u64;
    let memory_now = me.memory_len();
    let exit = if ok {
        Exit::Returned
    } else {
        match state.stopped {
            Some(Stop::Exit) => Exit::Returned,
            Some(Stop::Deadline) => Exit::Timeout,
            _ if stopper.fired.load(Ordering::SeqCst) => Exit::Timeout,
            Some(Stop::Budget) => Exit::Failed(super::memory_exceeded(
                me.memory_bytes,
                state.over_budget.unwrap_or(0),
            )),
            None => {
                let desired = memory_now + refused_pages * PAGE;
                let what = trap.unwrap_or_default();
                Exit::Failed(if refused_pages > 0 && desired > me.memory_bytes {
                    super::memory_exceeded(me.memory_bytes, desired as usize)
                } else if what.contains("stack overflow") {
                    super::stack_overflow()
                } else {
                    super::trapped(what)
                })
            }
        }
    };
    drop(me);
    RunEnd {
        stdout: state.stdout.into_bytes(),
        stderr: state.stderr.into_bytes(),
        exit,
        over_budget: state.over_budget,
        setup: None,
        teardown: None,
    }
}

// ---------------------------------------------------------------------------------------------
// WASI preview 1 host functions (raw calling convention: arguments in u64 slots, the result
// written to the first).

type Raw = unsafe extern "C" fn(sys::wasm_exec_env_t, *mut u64);

const SUCCESS: u32 = 0;
const EBADF: u32 = 8;
const EFAULT: u32 = 21;
const EINVAL: u32 = 28;
const ENOSYS: u32 = 52;
const ESPIPE: u32 = 70;

/// The host functions: name, WAMR signature (None: any, for stubs), function.
const NATIVES: &[(&str, Option<&str>, Raw)] = &[
    ("args_get", Some("(ii)i"), args_get),
    ("args_sizes_get", Some("(ii)i"), args_sizes_get),
    ("clock_res_get", Some("(ii)i"), clock_res_get),
    ("clock_time_get", Some("(iIi)i"), clock_time_get),
    ("environ_get", Some("(ii)i"), environ_get),
    ("environ_sizes_get", Some("(ii)i"), environ_sizes_get),
    ("fd_advise", None, stub_badf),
    ("fd_allocate", None, stub_badf),
    ("fd_close", Some("(i)i"), fd_close),
    ("fd_datasync", None, stub_badf),
    ("fd_fdstat_get", Some("(ii)i"), fd_fdstat_get),
    ("fd_fdstat_set_flags", None, stub_badf),
    ("fd_fdstat_set_rights", None, stub_badf),
    ("fd_filestat_get", Some("(ii)i"), fd_filestat_get),
    ("fd_filestat_set_size", None, stub_badf),
    ("fd_filestat_set_times", None, stub_badf),
    ("fd_pread", None, stub_badf),
    ("fd_prestat_dir_name", None, stub_badf),
    ("fd_prestat_get", None, stub_badf),
    ("fd_pwrite", None, stub_badf),
    ("fd_read", Some("(iiii)i"), fd_read),
    ("fd_readdir", None, stub_badf),
    ("fd_renumber", None, stub_badf),
    ("fd_seek", Some("(iIii)i"), fd_seek),
    ("fd_sync", None, stub_badf),
    ("fd_tell", Some("(ii)i"), fd_tell),
    ("fd_write", Some("(iiii)i"), fd_write),
    ("path_create_directory", None, stub_badf),
    ("path_filestat_get", None, stub_badf),
    ("path_filestat_set_times", None, stub_badf),
    ("path_link", None, stub_badf),
    ("path_open", None, stub_badf),
    ("path_readlink", None, stub_badf),
    ("path_remove_directory", None, stub_badf),
    ("path_rename", None, stub_badf),
    ("path_symlink", None, stub_badf),
    ("path_unlink_file", None, stub_badf),
    ("poll_oneoff", Some("(iiii)i"), poll_oneoff),
    ("proc_exit", Some("(i)"), proc_exit),
    ("proc_raise", None, stub_nosys),
    ("random_get", Some("(ii)i"), random_get),
    ("sched_yield", Some("()i"), sched_yield),
    ("sock_accept", None, stub_badf),
    ("sock_recv", None, stub_badf),
    ("sock_send", None, stub_badf),
    ("sock_shutdown", None, stub_badf),
];

/// `Some(signature)` of a host function (`Some(None)`: a stub taking any), `None` if unknown.
fn signature_of(name: &str) -> Option<Option<&'static str>> {
    NATIVES.iter().find(|n| n.0 == name).map(|n| n.1)
}

fn native_symbols() -> Box<[sys::NativeSymbol]> {
    let mut v: Vec<_> = NATIVES
        .iter()
        .map(|(name, sig, f)| sys::NativeSymbol {
            symbol: Box::leak(format!("{name}\0").into_boxed_str()).as_ptr() as *const c_char,
            func_ptr: *f as *mut c_void,
            signature: match sig {
                Some(s) => Box::leak(format!("{s}\0").into_boxed_str()).as_ptr() as *const c_char,
                None => ptr::null(),
            },
            attachment: ptr::null_mut(),
        })
        .collect();
    v.sort_by(|a, b| unsafe { CStr::from_ptr(a.symbol).cmp(CStr::from_ptr(b.symbol)) });
    v.into_boxed_slice()
}

/// What a host function works on.
struct Ctx<'a> {
    state: &'a mut RunState,
    mem: &'a mut [u8],
    args: *mut u64,
}

impl Ctx<'_> {
    fn arg32(&self, i: usize) -> u32 {
        // SAFETY: WAMR passes one u64 slot per parameter of the checked signature.
        unsafe { *self.args.add(i) as u32 }
    }
    fn slice(&mut self, at: u32, len: u32) -> Result<&mut [u8], u32> {
        let (at, len) = (at as usize, len as usize);
        self.mem
            .get_mut(at..at.checked_add(len).ok_or(EFAULT)?)
            .ok_or(EFAULT)
    }
    fn read_u32(&mut self, at: u32) -> Result<u32, u32> {
        let b = self.slice(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn write(&mut self, at: u32, bytes: &[u8]) -> Result<(), u32> {
        self.slice(at, bytes.len() as u32)?.copy_from_slice(bytes);
        Ok(())
    }
    fn write_u32(&mut self, at: u32, v: u32) -> Result<(), u32> {
        self.write(at, &v.to_le_bytes())
    }
    fn write_u64(&mut self, at: u32, v: u64) -> Result<(), u32> {
        self.write(at, &v.to_le_bytes())
    }
    /// (address, length) pairs of an iovec array.
    fn iovecs(&mut self, iovs: u32, n: u32) -> Result<Vec<(u32, u32)>, u32> {
        (0..n)
            .map(|i| {
                let at = iovs
                    .checked_add(i.checked_mul(8).ok_or(EFAULT)?)
                    .ok_or(EFAULT)?;
                Ok((
                    self.read_u32(at)?,
                    self.read_u32(at.checked_add(4).ok_or(EFAULT)?)?,
                ))
            })
            .collect()
    }
}

/// The outcome of a host function: an errno for the guest, or a stop.
type HostResult = Result<u32, Fail>;

enum Fail {
    Errno(u32),
    Stop(Stop),
}

impl From<u32> for Fail {
    fn from(errno: u32) -> Self {
        Fail::Errno(errno)
    }
}

/// Runs `f` against the calling run's state: checks the deadline and charges memory growth to
/// the budget first, and turns a stop into a WAMR exception.
unsafe fn host(
    exec_env: sys::wasm_exec_env_t,
    args: *mut u64,
    f: impl FnOnce(&mut Ctx) -> HostResult,
) {
    // SAFETY: WAMR calls host functions only while a run (run_blocking) is inside
    // wasm_runtime_call_wasm on this thread, with the user data set to its RunState.
    unsafe {
        let inst = sys::wasm_runtime_get_module_inst(exec_env);
        let state = sys::wasm_runtime_get_user_data(exec_env) as *mut RunState;
        if inst.is_null() || state.is_null() {
            return;
        }
        let state = &mut *state;
        let m = (*(inst as *const RawInstance)).default_memory;
        let mem: &mut [u8] = if m.is_null() || (*m).memory_data.is_null() {
            &mut []
        } else {
            let len = (*m).cur_page_count as usize * (*m).num_bytes_per_page as usize;
            std::slice::from_raw_parts_mut((*m).memory_data, len)
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if Instant::now() >= state.deadline {
                return Err(Fail::Stop(Stop::Deadline));
            }
            if let Some(charge) = &mut state.charge {
                let now = mem.len() as u64;
                if now > charge.bytes() && !charge.grow(now - charge.bytes()) {
                    state.over_budget = Some(now as usize);
                    return Err(Fail::Stop(Stop::Budget));
                }
            }
            let mut ctx = Ctx { state, mem, args };
            f(&mut ctx)
        }));
        let (errno, stop) = match outcome {
            Ok(Ok(errno)) | Ok(Err(Fail::Errno(errno))) => (errno, None),
            Ok(Err(Fail::Stop(s))) => (0, Some(s)),
            Err(_) => (EFAULT, None),
        };
        *(args as *mut u32) = errno;
        if let Some(stop) = stop {
            let why = match stop {
                Stop::Exit => c"proc_exit",
                Stop::Deadline => c"deadline exceeded",
                Stop::Budget => c"memory budget exhausted",
            };
            state.stopped = Some(stop);
            sys::wasm_runtime_set_exception(inst, why.as_ptr());
        }
    }
}

/// A host function: `?` on a memory helper's `Err(errno)` returns that errno to the guest.
macro_rules! wasi {
    ($name:ident, |$c:ident| $body:block) => {
        unsafe extern "C" fn $name(exec_env: sys::wasm_exec_env_t, args: *mut u64) {
            // SAFETY: called by WAMR with the raw convention (see `host`).
            unsafe { host(exec_env, args, |$c: &mut Ctx| -> HostResult { $body }) }
        }
    };
}

fn strings_sizes(c: &mut Ctx, list: fn(&RunState) -> &Vec<Vec<u8>>) -> Result<u32, u32> {
    let l = list(c.state);
    let (n, size) = (
        l.len() as u32,
        l.iter().map(|s| s.len() as u32).sum::<u32>(),
    );
    let (np, sp) = (c.arg32(0), c.arg32(1));
    c.write_u32(np, n)?;
    c.write_u32(sp, size)?;
    Ok(SUCCESS)
}

fn strings_get(c: &mut Ctx, list: fn(&RunState) -> &Vec<Vec<u8>>) -> Result<u32, u32> {
    let (mut ptrs, mut buf) = (c.arg32(0), c.arg32(1));
    let l = list(c.state).clone();
    for s in &l {
        c.write_u32(ptrs, buf)?;
        c.write(buf, s)?;
        ptrs = ptrs.checked_add(4).ok_or(EFAULT)?;
        buf = buf.checked_add(s.len() as u32).ok_or(EFAULT)?;
    }
    Ok(SUCCESS)
}

wasi!(args_sizes_get, |c| { Ok(strings_sizes(c, |s| &s.args)?) });
wasi!(args_get, |c| { Ok(strings_get(c, |s| &s.args)?) });
wasi!(environ_sizes_get, |c| { Ok(strings_sizes(c, |s| &s.env)?) });
wasi!(environ_get, |c| { Ok(strings_get(c, |s| &s.env)?) });

fn monotonic_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

wasi!(clock_res_get, |c| {
    if c.arg32(0) > 3 {
        return Ok(EINVAL);
    }
    let at = c.arg32(1);
    c.write_u64(at, 1)?;
    Ok(SUCCESS)
});

wasi!(clock_time_get, |c| {
    let now = match c.arg32(0) {
        0 => realtime_ns(),
        1..=3 => monotonic_ns(),
        _ => return Ok(EINVAL),
    };
    let at = c.arg32(2);
    c.write_u64(at, now)?;
    Ok(SUCCESS)
});

wasi!(fd_close, |c| {
    Ok(if c.arg32(0) <= 2 { SUCCESS } else { EBADF })
});

wasi!(fd_fdstat_get, |c| {
    let fd = c.arg32(0);
    let rights: u64 = match fd {
        0 => (1 << 1) | (1 << 27),     // fd_read, poll_fd_readwrite
        1 | 2 => (1 << 6) | (1 << 27), // fd_write, poll_fd_readwrite
        _ => return Ok(EBADF),
    };
    let at = c.arg32(1);
    let mut st = [0u8; 24];
    st[0] = 2; // character device
    st[8..16].copy_from_slice(&rights.to_le_bytes());
    c.write(at, &st)?;
    Ok(SUCCESS)
});

wasi!(fd_filestat_get, |c| {
    if c.arg32(0) > 2 {
        return Ok(EBADF);
    }
    let at = c.arg32(1);
    let mut st = [0u8; 64];
    st[16] = 2; // character device
    c.write(at, &st)?;
    Ok(SUCCESS)
});

wasi!(fd_seek, |c| {
    Ok(if c.arg32(0) <= 2 { ESPIPE } else { EBADF })
});
wasi!(fd_tell, |c| {
    Ok(if c.arg32(0) <= 2 { ESPIPE } else { EBADF })
});

wasi!(fd_read, |c| {
    if c.arg32(0) != 0 {
        return Ok(EBADF);
    }
    let (iovs, n, nread) = (c.arg32(1), c.arg32(2), c.arg32(3));
    let mut total = 0u32;
    for (at, len) in c.iovecs(iovs, n)? {
        let pos = c.state.stdin_pos;
        let left = c.state.stdin.len() - pos;
        let k = left.min(len as usize);
        let src = c.state.stdin.slice(pos..pos + k);
        c.write(at, &src)?;
        c.state.stdin_pos += k;
        total += k as u32;
        if k < len as usize {
            break;
        }
    }
    c.write_u32(nread, total)?;
    Ok(SUCCESS)
});

wasi!(fd_write, |c| {
    let fd = c.arg32(0);
    if fd != 1 && fd != 2 {
        return Ok(EBADF);
    }
    let (iovs, n, nwritten) = (c.arg32(1), c.arg32(2), c.arg32(3));
    let mut total = 0u32;
    for (at, len) in c.iovecs(iovs, n)? {
        let data = c.slice(at, len)?.to_vec();
        let out = if fd == 1 {
            &mut c.state.stdout
        } else {
            &mut c.state.stderr
        };
        total = total.saturating_add(out.write(&data) as u32);
    }
    c.write_u32(nwritten, total)?;
    Ok(SUCCESS)
});

wasi!(poll_oneoff, |c| {
    let (subs, events, n, nevents) = (c.arg32(0), c.arg32(1), c.arg32(2), c.arg32(3));
    if n == 0 {
        return Ok(EINVAL);
    }
    // (userdata, tag, wake-up time for clocks)
    let mut list = Vec::new();
    let now = Instant::now();
    for i in 0..n {
        let at = subs
            .checked_add(i.checked_mul(48).ok_or(EFAULT)?)
            .ok_or(EFAULT)?;
        let s = c.slice(at, 48)?.to_vec();
        let u64_at = |o: usize| u64::from_le_bytes(s[o..o + 8].try_into().unwrap_or([0; 8]));
        let (userdata, tag) = (u64_at(0), s[8]);
        let wake = if tag == 0 {
            let clock = u32::from_le_bytes(s[16..20].try_into().unwrap_or([0; 4]));
            let timeout = u64_at(24);
            let abs = s[40] & 1 == 1;
            let rel = match (abs, clock) {
                (false, _) => timeout,
                (true, 0) => timeout.saturating_sub(realtime_ns()),
                (true, _) => timeout.saturating_sub(monotonic_ns()),
            };
            Some(now + Duration::from_nanos(rel))
        } else {
            None
        };
        list.push((userdata, tag, wake));
    }
    let io_ready = list.iter().any(|(_, tag, _)| *tag != 0);
    if !io_ready {
        let wake = list.iter().filter_map(|s| s.2).min().unwrap_or(now);
        let deadline = c.state.deadline;
        std::thread::sleep(wake.min(deadline).saturating_duration_since(Instant::now()));
        if wake > deadline {
            return Err(Fail::Stop(Stop::Deadline));
        }
    }
    let after = Instant::now();
    let mut k = 0u32;
    for (userdata, tag, wake) in list {
        let fire = match wake {
            Some(w) => !io_ready && w <= after,
            None => true,
        };
        if !fire {
            continue;
        }
        let mut ev = [0u8; 32];
        ev[0..8].copy_from_slice(&userdata.to_le_bytes());
        ev[10] = tag;
        if tag == 1 {
            let left = (c.state.stdin.len() - c.state.stdin_pos) as u64;
            ev[16..24].copy_from_slice(&left.to_le_bytes());
        }
        let at = events
            .checked_add(k.checked_mul(32).ok_or(EFAULT)?)
            .ok_or(EFAULT)?;
        c.write(at, &ev)?;
        k += 1;
    }
    c.write_u32(nevents, k)?;
    Ok(SUCCESS)
});

wasi!(proc_exit, |_c| { Err(Fail::Stop(Stop::Exit)) });

wasi!(random_get, |c| {
    let (at, len) = (c.arg32(0), c.arg32(1));
    let buf = c.slice(at, len)?;
    let mut filled = 0;
    while filled < buf.len() {
        // Writes within `buf` (this body runs inside `host`'s unsafe block).
        let r = libc::getrandom(
            buf[filled..].as_mut_ptr() as *mut c_void,
            buf.len() - filled,
            0,
        );
        if r <= 0 {
            return Ok(EINVAL);
        }
        filled += r as usize;
    }
    Ok(SUCCESS)
});

wasi!(sched_yield, |_c| {
    std::thread::yield_now();
    Ok(SUCCESS)
});

wasi!(stub_badf, |_c| { Ok(EBADF) });
wasi!(stub_nosys, |_c| { Ok(ENOSYS) });
