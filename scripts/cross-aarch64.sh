#!/usr/bin/env bash
# Cross-builds everything an ARM board (aarch64, Raspberry Pi class) needs to run wowbench, into
# one folder the board can take as-is:
#
#   <out>/bin/wowbench, bin/wow-runtime, bin/wow-proxy   static aarch64 (musl) executables
#   <out>/artifacts/                                     manifest.json, wasm32-wasip1/*.wasm and
#                                                        aarch64-unknown-linux-musl/* (workloads
#                                                        and the action proxy), as `wowbench build`
#                                                        lays them out
#   <out>/ci-regression.sh                               the regression gate (scripts/), which
#                                                        uses bin/ and artifacts/ from here
#   <out>/BUILD-INFO                                     what was built, from which commit
#
# Usage: scripts/cross-aarch64.sh [--debug] [--out DIR]
#        scripts/cross-aarch64.sh --runtime-only [--debug]
#   --debug         debug profile for wowbench and wow-runtime (about half the build time; fine
#                   for CI smoke tests, not for measurements). The workloads and the action proxy
#                   (artifacts/, and bin/wow-proxy copied from there) are always release builds,
#                   as `wowbench build` makes them on x86.
#   --out DIR       destination (default: target/aarch64/dist, or target/aarch64/dist-debug)
#   --runtime-only  build only wow-runtime (into target/aarch64/aarch64-unknown-linux-musl/
#                   <profile>), no folder: what the ARM smoke test (harness/cli/tests/aarch64/)
#                   runs under qemu after `--runtime-only --debug`
#
# Environment: WOWBENCH_HOST_BIN  a host (x86_64) wowbench to build the artifacts with, instead
#              of `cargo run -p wowbench`.
#
# Needs the aarch64-unknown-linux-musl Rust target (rust-toolchain.toml lists it) and, for the C
# parts of wasmtime and blake3, Debian's gcc-aarch64-linux-gnu (installed here when missing, with
# sudo when not root; scripts/lib/apt.sh). The linker (rust-lld) and the cross C compiler are set
# in .cargo/config.toml; cargo output goes to target/aarch64 so the shared target/ is not
# invalidated.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=aarch64-unknown-linux-musl
TARGET_DIR=${WOWBENCH_AARCH64_TARGET_DIR:-$ROOT/target/aarch64}
PROFILE=release
OUT=
RUNTIME_ONLY=0

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --debug) PROFILE=debug ;;
        --runtime-only) RUNTIME_ONLY=1 ;;
        --out)
            [[ $# -ge 2 ]] || { echo "error: --out needs a folder" >&2; exit 2; }
            OUT=$2
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z $OUT ]]; then
    OUT=$TARGET_DIR/dist
    [[ $PROFILE == debug ]] && OUT=$TARGET_DIR/dist-debug
fi

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

started=$SECONDS

# The cross C compiler for wasmtime's and blake3's C and assembly parts, and `file` for the
# check of the outputs.
# shellcheck source=lib/apt.sh
source "$ROOT/scripts/lib/apt.sh"
cross_gcc=gcc-aarch64-linux-gnu
[[ $(uname -m) == aarch64 ]] && cross_gcc=gcc # the native gcc answers to aarch64-linux-gnu-gcc
need_packages aarch64-linux-gnu-gcc:$cross_gcc file:file ||
    die "the cross build needs the packages above"
if command -v rustup > /dev/null && ! (cd "$ROOT" && rustup target list --installed) | grep -qx "$TARGET"; then
    say "adding the Rust target $TARGET"
    (cd "$ROOT" && rustup target add "$TARGET")
fi

# The engines of a cross build: all but WAMR, whose C sources (cmake + bindgen) are not
# cross-compiled here.
CROSS_ENGINES=wasmi

profile_flag=()
[[ $PROFILE == release ]] && profile_flag=(--release)

if [[ $RUNTIME_ONLY -eq 1 ]]; then
    say "building wow-runtime for $TARGET ($PROFILE) in $TARGET_DIR"
    cargo build "${profile_flag[@]}" --manifest-path "$ROOT/Cargo.toml" \
        --target "$TARGET" --target-dir "$TARGET_DIR" -p wow-runtime \
        --no-default-features --features "$CROSS_ENGINES"
    say "built in $((SECONDS - started)) s"
    echo "$TARGET_DIR/$TARGET/$PROFILE/wow-runtime"
    exit 0
fi

say "building wowbench and wow-runtime for $TARGET ($PROFILE) in $TARGET_DIR"
t0=$SECONDS
cargo build "${profile_flag[@]}" \
    --manifest-path "$ROOT/Cargo.toml" \
    --target "$TARGET" --target-dir "$TARGET_DIR" \
    -p wowbench -p wow-runtime --no-default-features --features "$CROSS_ENGINES"
say "binaries built in $((SECONDS - t0)) s"

# The artifacts: the Wasm workloads plus the aarch64 native workloads and action proxy, built by
# the same code as `wowbench build` on x86 (release, static musl).
say "building the artifacts (Wasm, and native $TARGET) into $OUT/artifacts"
t0=$SECONDS
mkdir -p "$OUT/bin" "$OUT/artifacts"
if [[ -n ${WOWBENCH_HOST_BIN:-} ]]; then
    [[ -x $WOWBENCH_HOST_BIN ]] || die "WOWBENCH_HOST_BIN=$WOWBENCH_HOST_BIN is not an executable"
    WOWBENCH_ROOT=$ROOT "$WOWBENCH_HOST_BIN" build --quiet --native-target "$TARGET" --out "$OUT/artifacts"
else
    WOWBENCH_ROOT=$ROOT cargo run --quiet --manifest-path "$ROOT/Cargo.toml" -p wowbench -- \
        build --quiet --native-target "$TARGET" --out "$OUT/artifacts"
fi
say "artifacts built in $((SECONDS - t0)) s"

install -m 0755 "$TARGET_DIR/$TARGET/$PROFILE/wowbench" "$OUT/bin/wowbench"
install -m 0755 "$TARGET_DIR/$TARGET/$PROFILE/wow-runtime" "$OUT/bin/wow-runtime"
[[ -f $OUT/artifacts/$TARGET/wow-proxy ]] || die "the artifacts build produced no $TARGET/wow-proxy"
install -m 0755 "$OUT/artifacts/$TARGET/wow-proxy" "$OUT/bin/wow-proxy"
# Debug builds carry ~300 MB of DWARF each: drop it from the copies (symbols stay, for
# backtraces), so that the folder fits a board's SD card and copies in reasonable time.
if [[ $PROFILE == debug ]]; then
    strip_tool=
    for s in aarch64-linux-gnu-strip strip; do
        if command -v "$s" > /dev/null && { [[ $s != strip ]] || [[ $(uname -m) == aarch64 ]]; }; then
            strip_tool=$s
            break
        fi
    done
    if [[ -n $strip_tool ]]; then
        "$strip_tool" --strip-debug "$OUT/bin/wowbench" "$OUT/bin/wow-runtime"
    else
        echo "warning: no aarch64 strip tool; the debug binaries keep their debug info" >&2
    fi
fi

# Every executable must be a static aarch64 ELF: a board has no musl loader and no libc to match.
bad=0
for f in "$OUT"/bin/* "$OUT/artifacts/$TARGET"/*; do
    desc=$(file -b "$f")
    if [[ $desc != *"ARM aarch64"* ]] || [[ $desc != *"static"* ]]; then
        printf 'not a static aarch64 executable: %s: %s\n' "$f" "$desc" >&2
        bad=1
    fi
done
[[ $bad -eq 0 ]] || die "some outputs are not static aarch64 executables"

# The regression gate, to run from this folder on the board (it finds bin/ and artifacts/).
install -m 0755 "$ROOT/scripts/ci-regression.sh" "$OUT/ci-regression.sh"

{
    echo "target: $TARGET"
    echo "profile: $PROFILE (binaries); release (artifacts)"
    echo "git commit: $(git -C "$ROOT" rev-parse HEAD 2> /dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2> /dev/null || echo ' (with local changes)')"
    echo "rustc: $(cd "$ROOT" && rustc --version)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m)"
    echo
    (cd "$OUT" && file bin/* "artifacts/$TARGET"/*)
} > "$OUT/BUILD-INFO"

say "done in $((SECONDS - started)) s: $OUT"
(cd "$OUT" && du -sh bin artifacts) >&2
echo "$OUT"
