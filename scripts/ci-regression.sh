#!/usr/bin/env bash
# The regression gate of a CI job: runs the short `ci` suite on this machine and compares it with
# a baseline run folder.
#
# Usage: scripts/ci-regression.sh BASELINE [OUT_DIR]
#   BASELINE      either the baseline build's executor (an executable: its `wowbench` or
#                 `wow-runtime`, e.g. built from the base commit) — a paired run: the ci suite
#                 measures it and this build's executor block by block in turn on this machine,
#                 and compare pairs the two sides (the sensitive gate; see docs/regression-ci.md);
#                 or a run folder, or a folder of run folders (three or more recommended: their
#                 spread tells run-to-run drift from regressions), made earlier on the same kind
#                 of machine (same architecture and device profile), e.g. results/reference/ci-pi4
#   OUT_DIR       where the new run folder and the comparison go (default: results/ci under
#                 the checkout, or under the deployed folder)
#
# It runs from a checkout (scripts/ci-regression.sh) or from the folder scripts/cross-aarch64.sh
# makes and scripts/board-deploy.sh copies (./ci-regression.sh beside bin/ and artifacts/); there
# it uses bin/wowbench and --artifacts artifacts, and builds nothing.
#
# Environment (all optional):
#   WOWBENCH_BIN            a prebuilt wowbench to use (e.g. from scripts/cross-aarch64.sh);
#                           default: cargo build --release, then target/release/wowbench
#                           (in a deployed folder: bin/wowbench)
#   WOWBENCH_RUN_ARGS       extra arguments of `wowbench run`, e.g.
#                           "--backends wasm --artifacts /opt/wowbench/artifacts --device pi3"
#   WOWBENCH_COMPARE_ARGS   extra arguments of `wowbench compare`, e.g. "--threshold 15"
#   WOWBENCH_BASELINE_PROXY in a paired run, the baseline build's static action proxy
#                           (wow-proxy, musl) for its containers. Without it both sides would
#                           run this build's proxy and Docker's groups could only compare it
#                           with itself, so a paired run then measures the Wasm side alone
#                           (--backends wasm; name --backends in WOWBENCH_RUN_ARGS to override)
#   GITHUB_STEP_SUMMARY     when set (GitHub Actions), the Markdown comparison is appended to it
#
# Output: OUT_DIR/<run>/ (the run folder), OUT_DIR/compare-<run>/ (summary.md, comparison.md,
# .json, .txt and github-action-benchmark's smaller-is-better.json / bigger-is-better.json),
# OUT_DIR/compare-latest (a link to the newest), and the Markdown summary on stdout.
#
# Exit status: 0 no regression, 1 regression (the groups are named), 2 bad input to the
# comparison (e.g. a baseline from another architecture), 3 the build or the run failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -f $HERE/../Cargo.toml ]]; then
    ROOT=$(cd "$HERE/.." && pwd)
    DEPLOYED=0
else
    # The folder of scripts/cross-aarch64.sh: bin/, artifacts/ and this script.
    ROOT=$HERE
    DEPLOYED=1
fi

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

if [[ $# -lt 1 || $# -gt 2 || $1 == -h || $1 == --help ]]; then
    usage >&2
    [[ $# -ge 1 && ($1 == -h || $1 == --help) ]] && exit 0
    exit 2
fi
BASELINE=$1
OUT=${2:-$ROOT/results/ci}

say() { printf '==> %s\n' "$*" >&2; }

PAIRED=0
if [[ -f $BASELINE && -x $BASELINE ]]; then
    PAIRED=1
    BASELINE=$(cd "$(dirname "$BASELINE")" && pwd)/$(basename "$BASELINE")
elif [[ ! -d $BASELINE ]]; then
    printf 'error: baseline %s is neither a folder of runs nor an executor\n' "$BASELINE" >&2
    exit 2
fi

read -r -a RUN_ARGS <<< "${WOWBENCH_RUN_ARGS:-}"
read -r -a COMPARE_ARGS <<< "${WOWBENCH_COMPARE_ARGS:-}"

if [[ $DEPLOYED -eq 1 ]]; then
    [[ " ${RUN_ARGS[*]} " == *" --artifacts"* ]] || RUN_ARGS+=(--artifacts "$ROOT/artifacts")
fi

if [[ -n ${WOWBENCH_BIN:-} || $DEPLOYED -eq 1 ]]; then
    BIN=${WOWBENCH_BIN:-$ROOT/bin/wowbench}
    if [[ ! -x $BIN ]]; then
        printf 'error: %s is not an executable\n' "$BIN" >&2
        exit 3
    fi
else
    say "building wowbench (release)"
    if ! cargo build --release --manifest-path "$ROOT/Cargo.toml" -p wowbench; then
        printf 'error: the build failed\n' >&2
        exit 3
    fi
    BIN=$ROOT/target/release/wowbench
fi

mkdir -p "$OUT"
log=$(mktemp "${TMPDIR:-/tmp}/wowbench-ci-run.XXXXXX")
trap 'rm -f "$log"' EXIT

if [[ $PAIRED -eq 1 ]]; then
    say "running the ci suite into $OUT, paired with the baseline executor $BASELINE"
    RUN_ARGS+=(--baseline-executor "$BASELINE")
    if [[ -n ${WOWBENCH_BASELINE_PROXY:-} ]]; then
        RUN_ARGS+=(--baseline-proxy "$WOWBENCH_BASELINE_PROXY")
    elif [[ " ${RUN_ARGS[*]} " != *" --backends"* ]]; then
        say "no WOWBENCH_BASELINE_PROXY: both sides would run this build's proxy, so Docker is left out (--backends wasm)"
        RUN_ARGS+=(--backends wasm)
    fi
else
    say "running the ci suite into $OUT"
fi
t0=$SECONDS
# Progress goes to stderr; stdout is kept to find the run folder (its last line).
if ! "$BIN" run ci --out "$OUT" --quiet "${RUN_ARGS[@]}" | tee "$log"; then
    printf 'error: wowbench run ci failed (see above)\n' >&2
    exit 3
fi
RUN_DIR=$(tail -n 1 "$log")
if [[ -z $RUN_DIR || ! -f $RUN_DIR/records.csv ]]; then
    printf 'error: wowbench run did not end with a run folder (last line: %q)\n' "$RUN_DIR" >&2
    exit 3
fi
say "run folder $RUN_DIR ($((SECONDS - t0)) s)"
if [[ $PAIRED -eq 1 ]]; then
    # The paired run's other side, written beside it.
    BASELINE=$RUN_DIR-baseline
fi

CMP_DIR=$OUT/compare-$(basename "$RUN_DIR")
SUMMARY=$CMP_DIR/summary.md
mkdir -p "$CMP_DIR"
# A stable path for CI steps that read the files (e.g. github-action-benchmark).
ln -sfn "$(basename "$CMP_DIR")" "$OUT/compare-latest"
set +e
"$BIN" compare "$BASELINE" "$RUN_DIR" --format markdown --output "$CMP_DIR" "${COMPARE_ARGS[@]}" > "$SUMMARY"
status=$?
set -e

cat "$SUMMARY"
if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    cat "$SUMMARY" >> "$GITHUB_STEP_SUMMARY"
fi
case $status in
    0) say "no regression against $BASELINE" ;;
    1) say "REGRESSION against $BASELINE (details in $CMP_DIR)" ;;
    *) say "the comparison failed (exit $status): see the message above" ;;
esac
exit "$status"
