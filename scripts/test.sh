#!/usr/bin/env bash
# The whole test suite (the README's second command, and what CI runs).
#
# Installs the Debian packages some tests drive (headless Chromium for the report page,
# qemu-user-static and the aarch64 cross linker for the ARM smoke test) and the engines' build
# needs (cmake, clang, libclang-dev for WAMR) when they are missing,
# checks the Docker engine, then runs every Rust test (the hostile-input suites uncaptured, so
# their case lists show) and the aarch64 smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/apt.sh
need_packages chromium:chromium qemu-aarch64-static:qemu-user-static \
    aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu
need_engine_packages

if ! docker info >/dev/null 2>&1; then
    echo "error: the Docker engine is not reachable; the Docker tests need it (start dockerd)" >&2
    exit 1
fi

# Runs one step, and says how long it took (CI has a time budget; this shows where it goes).
step() {
    local name=$1 t=$SECONDS rc=0
    shift
    echo "== $name"
    "$@" || rc=$?
    echo "== $name: $((SECONDS - t)) s, exit $rc"
    return "$rc"
}

# The hostile-input suites run on their own, uncaptured, so their numbered case lists show.
status=0
step "every test" cargo test --workspace --no-fail-fast -- --skip hostile_inputs || status=$?
# `--workspace` with `--test`/`--exclude` rather than `-p`, here and below: the same feature set
# as the run above, so nothing is compiled again (a `-p` selection rebuilt some 40 crates and the
# harness, minutes in CI).
step "hostile inputs" cargo test --workspace --test hostile -- --nocapture || status=$?
# The executor's HTTP suites (results, isolation, limits, hostile input) on every other engine;
# the reference engine ran them above.
for engine in wasmer wamr wasmi; do
    WOW_RUNTIME_ENGINE=$engine step "the executor's suites on $engine" \
        cargo test --workspace --exclude wow-proxy --test it || status=$?
    WOW_RUNTIME_ENGINE=$engine step "hostile inputs on $engine" \
        cargo test --workspace --exclude wow-proxy --test hostile -- --nocapture || status=$?
done
[ "$status" -eq 0 ] || exit "$status"
# The ARM smoke test: the aarch64 executor under qemu, cross-built first.
step "aarch64 cross-build" sh -c 'exec scripts/cross-aarch64.sh --runtime-only --debug >/dev/null'
step "aarch64 smoke test" cargo test --workspace --test aarch64 -- --ignored --nocapture
echo "== all tests: $SECONDS s"
