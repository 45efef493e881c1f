#!/usr/bin/env bash
# Copies the aarch64 build of wowbench (scripts/cross-aarch64.sh) to an ARM board over ssh and
# prints how to run the benchmarks there, or drive the board's executor from another machine.
#
# Usage: scripts/board-deploy.sh [options] HOST
#   HOST              the board's host name or address
#   --user USER       ssh user (default: $BOARD_USER, else the ssh config's / your user name)
#   --port PORT       ssh port (default: $BOARD_PORT, else the ssh config's / 22)
#   --dir DIR         destination folder on the board (default: $BOARD_DIR, else wowbench,
#                     relative to the user's home)
#   --dist DIR        the folder to copy (default: target/aarch64/dist, else dist-debug)
#   --build           run scripts/cross-aarch64.sh first (release)
#   --check           after copying, start the executor on the board once and ask /health
#
# Copies with rsync when both ends have it (only what changed), else with scp. Needs key-based
# ssh access (BatchMode: no password prompts). Extra ssh options: $BOARD_SSH_OPTS, e.g.
# "-i ~/.ssh/board -o StrictHostKeyChecking=accept-new".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=aarch64-unknown-linux-musl
USER_NAME=${BOARD_USER:-}
PORT=${BOARD_PORT:-}
DIR=${BOARD_DIR:-wowbench}
DIST=
BUILD=0
CHECK=0
HOST=

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}
say() { printf '==> %s\n' "$*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --user | --port | --dir | --dist)
            [[ $# -ge 2 ]] || die "$1 needs a value"
            case $1 in
                --user) USER_NAME=$2 ;;
                --port) PORT=$2 ;;
                --dir) DIR=$2 ;;
                --dist) DIST=$2 ;;
            esac
            shift
            ;;
        --build) BUILD=1 ;;
        --check) CHECK=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *)
            [[ -z $HOST ]] || die "one HOST only (got $HOST and $1)"
            HOST=$1
            ;;
    esac
    shift
done
[[ -n $HOST ]] || { usage >&2; exit 2; }
[[ $DIR != *" "* ]] || die "--dir must not contain spaces"

if [[ $BUILD -eq 1 ]]; then
    DIST=$("$ROOT/scripts/cross-aarch64.sh" ${DIST:+--out "$DIST"} | tail -n 1)
fi
if [[ -z $DIST ]]; then
    for d in "$ROOT/target/aarch64/dist" "$ROOT/target/aarch64/dist-debug"; do
        if [[ -x $d/bin/wowbench ]]; then DIST=$d; break; fi
    done
fi
[[ -n $DIST ]] || die "no aarch64 build found: run scripts/cross-aarch64.sh first (or pass --build)"
for f in bin/wowbench bin/wow-runtime bin/wow-proxy artifacts/manifest.json "artifacts/$TARGET/noop"; do
    [[ -e $DIST/$f ]] || die "$DIST is incomplete: no $f (run scripts/cross-aarch64.sh)"
done

DEST=$HOST
[[ -n $USER_NAME ]] && DEST=$USER_NAME@$HOST
read -r -a EXTRA_SSH <<< "${BOARD_SSH_OPTS:-}"
SSH=(ssh -o BatchMode=yes -o ConnectTimeout=15 "${EXTRA_SSH[@]}")
SCP=(scp -o BatchMode=yes -o ConnectTimeout=15 "${EXTRA_SSH[@]}")
if [[ -n $PORT ]]; then
    SSH+=(-p "$PORT")
    SCP+=(-P "$PORT")
fi

say "checking $DEST"
remote_arch=$("${SSH[@]}" "$DEST" uname -m) || die "cannot reach $DEST over ssh (key-based login needed)"
if [[ $remote_arch != aarch64 ]]; then
    printf 'warning: %s is %s, not aarch64: these binaries will not run there\n' "$DEST" "$remote_arch" >&2
fi
"${SSH[@]}" "$DEST" "mkdir -p $DIR"

say "copying $DIST to $DEST:$DIR"
if command -v rsync > /dev/null && "${SSH[@]}" "$DEST" command -v rsync > /dev/null 2>&1; then
    rsync -az --delete --info=stats1 -e "${SSH[*]}" "$DIST/" "$DEST:$DIR/"
else
    "${SSH[@]}" "$DEST" "rm -rf $DIR/bin $DIR/artifacts"
    "${SCP[@]}" -q -r "$DIST/bin" "$DIST/artifacts" "$DEST:$DIR/"
    for f in BUILD-INFO ci-regression.sh; do
        if [[ -f $DIST/$f ]]; then "${SCP[@]}" -q "$DIST/$f" "$DEST:$DIR/"; fi
    done
fi
"${SSH[@]}" "$DEST" "chmod +x $DIR/bin/* $DIR/artifacts/$TARGET/*"
version=$("${SSH[@]}" "$DEST" "$DIR/bin/wowbench --version") || die "bin/wowbench does not run on $DEST"
say "installed: $version"

if [[ $CHECK -eq 1 ]]; then
    say "starting the executor on $DEST once (auto allocator; it says what it could reserve)"
    "${SSH[@]}" "$DEST" "set -e
        log=\$(mktemp); trap 'kill \$pid 2>/dev/null; rm -f \$log' EXIT
        $DIR/bin/wow-runtime --listen 127.0.0.1:0 --no-disk-cache > \$log 2>&1 & pid=\$!
        for _ in \$(seq 100); do addr=\$(sed -n 's/^wow-runtime listening on //p' \$log); [ -n \"\$addr\" ] && break; sleep 0.2; done
        [ -n \"\$addr\" ] || { cat \$log; exit 1; }
        if command -v curl >/dev/null; then curl -sS http://\$addr/health; echo; else echo \"listening on \$addr (no curl to ask /health)\"; fi" ||
        die "the executor did not start on $DEST"
fi

cat << EOF

Deployed to $DEST:$DIR (from $DIST).

Run on the board (recommended: both backends measured where they run, one clock):
  ssh $DEST 'cd $DIR && bin/wowbench run ci --artifacts artifacts --out results'
  # the regression gate: make a baseline once (same board, idle, three runs), then gate on it
  ssh $DEST 'cd $DIR && for i in 1 2 3; do bin/wowbench run ci --artifacts artifacts --out results/reference; done'
  ssh $DEST 'cd $DIR && ./ci-regression.sh results/reference results/ci'

Drive the board's executor from this machine (Wasm only):
  ssh -N -L 8080:127.0.0.1:8080 $DEST &        # tunnel; the executor has no authentication
  ssh $DEST '$DIR/bin/wow-runtime --listen 127.0.0.1:8080 --no-disk-cache' &
  wowbench run ci --backends wasm --wasm-url http://127.0.0.1:8080
  # the numbers then include the network and the tunnel: compare only with runs made the same way

Docker on the board from this machine:
  DOCKER_HOST=ssh://$DEST wowbench run ci --backends docker     # or --docker-host ssh://$DEST
  Not supported by this build: the harness's Docker client (bollard) is compiled without its
  "ssh" feature, and containers publish their port on the engine host's 127.0.0.1, which this
  machine cannot reach. Run on the board instead (above).
EOF
