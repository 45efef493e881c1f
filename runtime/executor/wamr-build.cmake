# Read by wamr-sys's cmake build (through CMAKE_TOOLCHAIN_FILE, set in .cargo/config.toml):
# WAMR's own libc-wasi would shadow the per-instance `wasi_snapshot_preview1` natives this crate
# registers (the first registration of a name wins) and writes to the process's stdio; AOT is
# unused (no wamrc here) and would install a process-wide SIGSEGV handler.
set (WAMR_BUILD_LIBC_WASI 0)
set (WAMR_BUILD_AOT 0)
# Rust's wasm32-wasip1 target emits bulk-memory ops (memory.copy/fill) by default.
set (WAMR_BUILD_BULK_MEMORY 1)

# wamr-sys links `iwasm` and `vmlib`; WAMR's CMakeLists makes `iwasm` a shared library, which
# would leave every binary depending on a libiwasm.so in cargo's build folder. Build it static
# (the same objects as `vmlib`), so the executor is one self-contained binary. The guard keeps a
# second reading of this file from wrapping the command twice.
get_property(wow_wrapped GLOBAL PROPERTY WOW_ADD_LIBRARY_WRAPPED)
if (NOT wow_wrapped)
  set_property(GLOBAL PROPERTY WOW_ADD_LIBRARY_WRAPPED TRUE)
  function(add_library name)
    set(args ${ARGN})
    if (name STREQUAL "iwasm")
      list(REMOVE_ITEM args SHARED)
      _add_library(${name} STATIC ${args})
    else ()
      _add_library(${name} ${ARGN})
    endif ()
  endfunction()
endif ()
