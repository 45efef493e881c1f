# Read by wamr-sys's cmake build (through CMAKE_TOOLCHAIN_FILE, set in .cargo/config.toml):
# WAMR's own libc-wasi would shadow the per-instance `wasi_snapshot_preview1` natives this crate
# registers (the first registration of a name wins) and writes to the process's stdio; AOT is
# unused (no wamrc here) and would install a process-wide SIGSEGV handler.
set (WAMR_BUILD_LIBC_WASI 0)
set (WAMR_BUILD_AOT 0)
# Rust's wasm32-wasip1 target emits bulk-memory ops (memory.copy/fill) by default.
set (WAMR_BUILD_BULK_MEMORY 1)
