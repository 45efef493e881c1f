#!/usr/bin/env bash
# The README's first command: the quick suite, end to end, on a fresh machine.
#
# Installs the Debian packages the executor's engines need to build when they are missing (WAMR:
# cmake, clang, libclang-dev), then builds and runs `wowbench run quick`, which adds the rustup
# targets and builds the workloads, the proxy and its image itself. Arguments are passed on, e.g.
# `scripts/quick.sh --backends wasm` or `scripts/quick.sh --engines wasmtime,wasmi`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/apt.sh
need_engine_packages
exec cargo run --release -- run quick "$@"
