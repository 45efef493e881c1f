"""Times `hash` (1,000,000 iterations) and `image` (1024 x 1024) per opt-level.

Native: the static binary as a process (wall time; CPU time = user + sys of the child).
Wasm: wasmtime 48 (Python bindings), one fresh Store + instantiate + `_start` per run, compile
excluded. Levels are interleaved round by round so background load spreads evenly over them.

    python3 time.py <builds base dir> [rounds]
"""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import wasmtime

LEVELS = ["s", "z", "2", "3"]
CASES = {"hash": '{"iterations":1000000}', "image": '{"width":1024,"height":1024}'}


def run_wasm(engine, module, stdin_text):
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "in"), "w") as f:
            f.write(stdin_text)
        cfg = wasmtime.WasiConfig()
        cfg.stdin_file = os.path.join(d, "in")
        cfg.stdout_file = os.path.join(d, "out")
        store.set_wasi(cfg)
        instance = linker.instantiate(store, module)
        start = time.perf_counter()
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as e:
            assert e.code == 0, e
        elapsed = time.perf_counter() - start
        with open(os.path.join(d, "out")) as f:
            assert '"error"' not in f.read()
    return elapsed * 1000


def main():
    base = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    engine = wasmtime.Engine()
    modules = {}
    for level in LEVELS:
        for simd in ("simd", "scalar"):
            suffix = "" if simd == "simd" else "-nosimd"
            for w in CASES:
                path = f"{base}/opt-{level}{suffix}/wasm32-wasip1/release/{w}.wasm"
                modules[(level, simd, w)] = wasmtime.Module.from_file(engine, path)
    wall = {(l, w): [] for l in LEVELS for w in CASES}
    cpu = {(l, w): [] for l in LEVELS for w in CASES}
    wasm = {k: [] for k in modules}
    for _ in range(rounds):
        for level in LEVELS:
            for w, stdin_text in CASES.items():
                exe = f"{base}/opt-{level}/x86_64-unknown-linux-musl/release/{w}"
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                out = subprocess.run([exe], input=stdin_text.encode(), capture_output=True)
                elapsed = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                assert out.returncode == 0, out
                wall[(level, w)].append(elapsed * 1000)
                used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                cpu[(level, w)].append(used * 1000)
        for key, module in modules.items():
            wasm[key].append(run_wasm(engine, module, CASES[key[2]]))

    def cell(xs):
        return f"{statistics.median(xs):.1f} / {min(xs):.1f}"

    print(f"\n{rounds} interleaved rounds; ms, median / min")
    print("| run | opt-level s | z | 2 | 3 |")
    print("|---|---|---|---|---|")
    for w in CASES:
        print(f"| native {w}, wall | " + " | ".join(cell(wall[(l, w)]) for l in LEVELS) + " |")
        print(f"| native {w}, CPU | " + " | ".join(cell(cpu[(l, w)]) for l in LEVELS) + " |")
        for simd in ("simd", "scalar"):
            row = " | ".join(cell(wasm[(l, simd, w)]) for l in LEVELS)
            print(f"| Wasm {w}, {'SIMD' if simd == 'simd' else 'scalar'} | {row} |")


if __name__ == "__main__":
    main()
