#!/usr/bin/env bash
# aarch64 smoke test of the Wasm executor: cross-builds wow-runtime for aarch64-unknown-linux-musl
# (debug), runs it under qemu-user inside a memory-limited cgroup and a virtual-memory ulimit, and
# checks that:
#   1. with the default pool settings, the `auto` allocator's probe fails over (large pool →
#      small pool → on-demand) instead of reserving terabytes, and /health says what it chose;
#   2. with a small pool (--pool-slots 16 --memory-reservation-mb 128), pooling works;
#   3. in both, /init + /run of the noop, hash, prime and json workloads (Cranelift generating
#      aarch64 code, under emulation) answer exactly what the x86 native builds answer for the
#      same input;
#   4. if scripts/cross-aarch64.sh has built the aarch64 native workloads, they agree as well.
#
# Usage: scripts/aarch64-smoke.sh
# Environment (all optional):
#   SMOKE_MEMORY_MB=2048       memory limit of the cgroup qemu runs in
#   SMOKE_VMEM_MB=16384        ulimit -v of qemu (what makes the pool probe fail over)
#   SMOKE_TIMEOUT_S=180        limit of each HTTP call and of the executor's start
#   WOWBENCH_AARCH64_RUNTIME   a prebuilt aarch64 wow-runtime (skips the cross build)
#   WOWBENCH_HOST_BIN          a host wowbench to build the artifacts with
#   WOWBENCH_AARCH64_TARGET_DIR  cargo target dir of the cross build (default: target/aarch64)
#
# Why the limits: qemu-user keeps bookkeeping for every guest page mapped, reserved or not, so
# the pooling allocator's default reservation (thousands of slots × 4 GiB) makes qemu itself grow
# by gigabytes per terabyte reserved: a 1,000-slot pool once grew qemu to 24 GB and the OOM killer
# took the machine down. The ulimit makes such reservations fail up front (the executor then falls
# back); the cgroup caps whatever is left. Both are removed, and qemu killed, on exit.
#
# Installs qemu-user-static, curl, jq and file with apt-get when missing (as root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=aarch64-unknown-linux-musl
TARGET_DIR=${WOWBENCH_AARCH64_TARGET_DIR:-$ROOT/target/aarch64}
MEMORY_MB=${SMOKE_MEMORY_MB:-2048}
VMEM_MB=${SMOKE_VMEM_MB:-16384}
TIMEOUT_S=${SMOKE_TIMEOUT_S:-180}
HOST_ARCH=$(uname -m)
HOST_NATIVE=$HOST_ARCH-unknown-linux-musl

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wowbench-aarch64-smoke.XXXXXX")
CGROUP=
CGROUP_VERSION=
EXEC_PID=
URL=
FAILED=1
STARTED=$SECONDS

say() { printf '==> %s\n' "$*" >&2; }
fail() {
    printf '\nFAIL: %s\n' "$*" >&2
    exit 1
}

stop_executor() {
    if [[ -n $EXEC_PID ]] && kill -0 "$EXEC_PID" 2> /dev/null; then
        kill -TERM "$EXEC_PID" 2> /dev/null || true
        for _ in $(seq 50); do
            kill -0 "$EXEC_PID" 2> /dev/null || break
            sleep 0.2
        done
        kill -KILL "$EXEC_PID" 2> /dev/null || true
    fi
    if [[ -n $EXEC_PID ]]; then
        wait "$EXEC_PID" 2> /dev/null || true
    fi
    EXEC_PID=
}

cleanup() {
    local status=$?
    stop_executor
    if [[ -n $CGROUP && -d $CGROUP ]]; then
        # Anything still in it was started by this script (qemu runs of the native workloads).
        local pid
        while read -r pid; do
            if [[ -n $pid ]]; then kill -KILL "$pid" 2> /dev/null || true; fi
        done < "$CGROUP/cgroup.procs"
        for _ in $(seq 25); do
            rmdir "$CGROUP" 2> /dev/null && break
            sleep 0.2
        done
        [[ -d $CGROUP ]] && printf 'warning: could not remove the cgroup %s\n' "$CGROUP" >&2
    fi
    if [[ $FAILED -eq 0 ]]; then
        rm -rf "$WORK"
    else
        printf 'logs kept in %s\n' "$WORK" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools --------------------------------------------------------------------------------------
missing=()
[[ $HOST_ARCH == aarch64 ]] || command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user-static)
command -v curl > /dev/null || missing+=(curl)
command -v jq > /dev/null || missing+=(jq)
command -v file > /dev/null || missing+=(file)
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get > /dev/null; then
        say "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
    else
        fail "missing tools: apt-get install ${missing[*]} (as root)"
    fi
fi
QEMU=()
[[ $HOST_ARCH == aarch64 ]] || QEMU=(qemu-aarch64-static)

# --- the aarch64 executor -------------------------------------------------------------------------
if [[ -n ${WOWBENCH_AARCH64_RUNTIME:-} ]]; then
    BIN=$WOWBENCH_AARCH64_RUNTIME
    [[ -x $BIN ]] || fail "WOWBENCH_AARCH64_RUNTIME=$BIN is not an executable"
else
    if [[ $HOST_ARCH != aarch64 ]] && ! command -v aarch64-linux-gnu-gcc > /dev/null; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get > /dev/null; then
            say "installing gcc-aarch64-linux-gnu"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu > /dev/null
        else
            fail "aarch64-linux-gnu-gcc is missing: apt-get install gcc-aarch64-linux-gnu"
        fi
    fi
    if command -v rustup > /dev/null && ! (cd "$ROOT" && rustup target list --installed) | grep -qx "$TARGET"; then
        say "adding the Rust target $TARGET"
        (cd "$ROOT" && rustup target add "$TARGET")
    fi
    say "cross-building wow-runtime for $TARGET (debug) in $TARGET_DIR"
    t0=$SECONDS
    # The linker and the cross C compiler come from .cargo/config.toml.
    cargo build --quiet --manifest-path "$ROOT/Cargo.toml" -p wow-runtime \
        --target "$TARGET" --target-dir "$TARGET_DIR" ||
        fail "the aarch64 cross build of wow-runtime failed"
    BIN=$TARGET_DIR/$TARGET/debug/wow-runtime
    say "built in $((SECONDS - t0)) s"
fi
desc=$(file -b "$BIN")
[[ $desc == *"ARM aarch64"* ]] || fail "$BIN is not an aarch64 executable: $desc"

# --- the workloads: Wasm for the executor, host native builds for the expected answers ------------
say "making sure the workload artifacts are built (wasm32-wasip1 and $HOST_NATIVE)"
ARTIFACTS=$ROOT/target/artifacts
build_artifacts() {
    if [[ -n ${WOWBENCH_HOST_BIN:-} ]]; then
        WOWBENCH_ROOT=$ROOT "$WOWBENCH_HOST_BIN" build --quiet
    else
        WOWBENCH_ROOT=$ROOT cargo run --quiet --manifest-path "$ROOT/Cargo.toml" -p wowbench -- build --quiet
    fi
}
if ! build_artifacts > "$WORK/build.log" 2>&1; then
    # Artifacts from an earlier build still make a valid test: the Wasm and the native builds of
    # each workload come from the same sources. Without any, there is nothing to test.
    if [[ -f $ARTIFACTS/manifest.json && -f $ARTIFACTS/wasm32-wasip1/noop.wasm ]]; then
        tail -n 20 "$WORK/build.log" >&2
        printf 'warning: wowbench build failed; using the artifacts already in %s\n' "$ARTIFACTS" >&2
    else
        cat "$WORK/build.log" >&2
        fail "wowbench build failed and there are no artifacts in $ARTIFACTS"
    fi
fi
WORKLOADS=(noop hash prime json)
declare -A PARAMS=(
    [noop]='{"hello":"aarch64","list":[1,2,3],"nested":{"ok":true}}'
    [hash]='{"input":"wowbench-aarch64-smoke","iterations":2000}'
    [prime]='{"n":100000}'
    [json]='{"items":300,"seed":7}'
)
declare -A EXPECTED
for w in "${WORKLOADS[@]}"; do
    [[ -f $ARTIFACTS/wasm32-wasip1/$w.wasm ]] || fail "missing $ARTIFACTS/wasm32-wasip1/$w.wasm"
    native=$ARTIFACTS/$HOST_NATIVE/$w
    [[ -x $native ]] || fail "missing the native build $native"
    # As in OpenWhisk's action protocol, the result is the last line of stdout (logs precede it).
    EXPECTED[$w]=$(printf '%s' "${PARAMS[$w]}" | "$native" | tail -n 1 | jq -S -c .) ||
        fail "the native $w did not answer JSON"
done

# --- the memory limits ------------------------------------------------------------------------------
make_cgroup() {
    local name=wowbench-aarch64-smoke-$$
    if [[ -d /sys/fs/cgroup/memory && -w /sys/fs/cgroup/memory ]]; then
        CGROUP=/sys/fs/cgroup/memory/$name
        CGROUP_VERSION=1
        mkdir "$CGROUP"
        echo $((MEMORY_MB << 20)) > "$CGROUP/memory.limit_in_bytes"
        # No swapping around the limit either, where the kernel accounts swap.
        if [[ -f $CGROUP/memory.memsw.limit_in_bytes ]]; then
            echo $((MEMORY_MB << 20)) > "$CGROUP/memory.memsw.limit_in_bytes" || true
        fi
    elif [[ -f /sys/fs/cgroup/cgroup.controllers && -w /sys/fs/cgroup ]] &&
        grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
        CGROUP=/sys/fs/cgroup/$name
        CGROUP_VERSION=2
        grep -qw memory /sys/fs/cgroup/cgroup.subtree_control ||
            echo +memory > /sys/fs/cgroup/cgroup.subtree_control
        mkdir "$CGROUP"
        echo $((MEMORY_MB << 20)) > "$CGROUP/memory.max"
        echo 0 > "$CGROUP/memory.swap.max" 2> /dev/null || true
    else
        fail "cannot create a memory cgroup (not root, or no memory controller): refusing to run qemu without a memory limit"
    fi
    say "memory cgroup $CGROUP: ${MEMORY_MB} MiB; qemu ulimit -v ${VMEM_MB} MiB"
}

peak_memory_mb() {
    local f
    if [[ $CGROUP_VERSION == 1 ]]; then f=$CGROUP/memory.max_usage_in_bytes; else f=$CGROUP/memory.peak; fi
    if [[ -r $f ]]; then echo $(($(cat "$f") >> 20)); else echo "?"; fi
}

oom_kills() {
    local f
    if [[ $CGROUP_VERSION == 1 ]]; then f=$CGROUP/memory.oom_control; else f=$CGROUP/memory.events; fi
    awk '$1 == "oom_kill" { print $2; found = 1 } END { if (!found) print 0 }' "$f" 2> /dev/null || echo 0
}

# Runs a command inside the cgroup, under the ulimit (the subshell joins the cgroup, then execs).
limited() {
    echo "$BASHPID" > "$CGROUP/cgroup.procs"
    ulimit -v $((VMEM_MB << 10))
    exec "$@"
}

# --- the executor under qemu ----------------------------------------------------------------------
start_executor() {
    local name=$1
    shift
    local log=$WORK/$name.log
    (limited "${QEMU[@]}" "$BIN" --listen 127.0.0.1:0 --no-disk-cache --quiet-guests --workers 2 "$@") \
        > "$log" 2>&1 &
    EXEC_PID=$!
    local deadline=$((SECONDS + TIMEOUT_S)) addr=
    while [[ -z $addr ]]; do
        if ! kill -0 "$EXEC_PID" 2> /dev/null; then
            wait "$EXEC_PID" 2> /dev/null || true
            EXEC_PID=
            cat "$log" >&2
            fail "the executor ($name) exited during start-up (OOM kills in the cgroup: $(oom_kills))"
        fi
        addr=$(sed -n 's/^wow-runtime listening on \(.*\)$/\1/p' "$log" | head -n 1)
        [[ -n $addr ]] && break
        ((SECONDS < deadline)) || { cat "$log" >&2; fail "the executor ($name) did not start within ${TIMEOUT_S} s"; }
        sleep 0.2
    done
    URL=http://$addr
    say "$name: executor (pid $EXEC_PID) listening on $addr"
}

# POSTs a JSON file; sets STATUS and BODY.
post() {
    local out
    out=$(curl -sS --max-time "$TIMEOUT_S" -H 'content-type: application/json' \
        --data-binary "@$2" -w '\n%{http_code}' "$1") ||
        fail "POST $1: no answer (executor alive: $(kill -0 "$EXEC_PID" 2> /dev/null && echo yes || echo no); OOM kills: $(oom_kills))"
    STATUS=${out##*$'\n'}
    BODY=${out%$'\n'*}
}

health() {
    curl -sS --max-time "$TIMEOUT_S" "$URL/health" || fail "GET /health: no answer"
}

# /init + /run of every workload in its own sandbox; the answers must equal the native ones.
check_workloads() {
    local phase=$1 w sandbox t0 got
    for w in "${WORKLOADS[@]}"; do
        sandbox=$phase-$w
        base64 -w0 "$ARTIFACTS/wasm32-wasip1/$w.wasm" > "$WORK/code.b64"
        jq -n --arg name "$sandbox" --rawfile code "$WORK/code.b64" \
            '{value: {name: $name, main: "main", code: $code, binary: true, env: {}}}' > "$WORK/init.json"
        t0=$(date +%s%N)
        post "$URL/$sandbox/init" "$WORK/init.json"
        [[ $STATUS == 200 ]] || fail "$phase: /init of $w answered $STATUS: $BODY"
        local init_ms=$((($(date +%s%N) - t0) / 1000000))
        for attempt in 1 2; do
            jq -n --argjson p "${PARAMS[$w]}" --arg sb "$sandbox" --arg id "smoke-$attempt" \
                --arg deadline "$(($(date +%s) * 1000 + TIMEOUT_S * 1000))" \
                '{value: $p, namespace: "smoke", action_name: $sb, activation_id: $id,
                  transaction_id: "aarch64-smoke", deadline: $deadline}' > "$WORK/run.json"
            t0=$(date +%s%N)
            post "$URL/$sandbox/run" "$WORK/run.json"
            [[ $STATUS == 200 ]] || fail "$phase: /run of $w answered $STATUS: $BODY"
            got=$(printf '%s' "$BODY" | jq -S -c .) || fail "$phase: /run of $w answered no JSON: $BODY"
            if [[ $got != "${EXPECTED[$w]}" ]]; then
                printf '  aarch64 (Wasm): %s\n  %s native:  %s\n' "$got" "$HOST_ARCH" "${EXPECTED[$w]}" >&2
                fail "$phase: $w answered differently on aarch64 than natively on $HOST_ARCH"
            fi
        done
        say "$phase: $w ok (init ${init_ms} ms, last run $((($(date +%s%N) - t0) / 1000000)) ms): $(printf '%.70s' "$got")"
    done
}

make_cgroup

# 1. Default pool settings: the probe must fall back, not reserve terabytes.
start_executor auto-default --allocator auto --prewarm false
h=$(health)
kind=$(jq -r '.allocator.kind' <<< "$h")
reason=$(jq -r '.allocator.reason' <<< "$h")
say "auto-default: allocator $kind, $(jq -r '.allocator.slots' <<< "$h") slots; $reason"
[[ $kind == on-demand || $kind == pooling ]] || fail "auto-default: /health names no allocator: $h"
if [[ $reason != *"failed"* ]]; then
    fail "auto-default: expected the probe to fail over under ulimit -v ${VMEM_MB} MiB, but it got $kind as configured: $h"
fi
check_workloads auto-default
say "auto-default: peak memory of the cgroup so far $(peak_memory_mb) MiB"
stop_executor

# 2. A small pool that fits: pooling, with the pre-warm pool on.
start_executor small-pool --allocator auto --pool-slots 16 --memory-reservation-mb 128 --memory-mb 128
h=$(health)
kind=$(jq -r '.allocator.kind' <<< "$h")
say "small-pool: allocator $kind, $(jq -r '.allocator.slots' <<< "$h") slots × $(($(jq -r '.allocator.memory_reservation' <<< "$h") >> 20)) MiB; $(jq -r '.allocator.reason' <<< "$h")"
[[ $kind == pooling ]] || fail "small-pool: expected the pooling allocator with 16 × 128 MiB, got: $h"
check_workloads small-pool
stop_executor

# 3. The aarch64 native workloads (the Docker side), when scripts/cross-aarch64.sh built them.
native_dir=
for d in "$TARGET_DIR/dist/artifacts/$TARGET" "$TARGET_DIR/dist-debug/artifacts/$TARGET"; do
    if [[ -x $d/noop ]]; then native_dir=$d; break; fi
done
if [[ -n $native_dir ]]; then
    for w in "${WORKLOADS[@]}"; do
        got=$(printf '%s' "${PARAMS[$w]}" | (limited "${QEMU[@]}" "$native_dir/$w") | tail -n 1 | jq -S -c .) ||
            fail "the aarch64 native $w failed under qemu"
        [[ $got == "${EXPECTED[$w]}" ]] ||
            fail "the aarch64 native $w answered $got, the $HOST_ARCH one ${EXPECTED[$w]}"
    done
    say "aarch64 native workloads in $native_dir agree with $HOST_ARCH"
else
    say "no aarch64 native workloads (run scripts/cross-aarch64.sh to check them too)"
fi

say "peak memory of the cgroup: $(peak_memory_mb) MiB of ${MEMORY_MB} MiB; OOM kills: $(oom_kills)"
FAILED=0
say "aarch64 smoke test passed in $((SECONDS - STARTED)) s"
