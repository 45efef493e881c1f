#!/usr/bin/env bash
# Measures the `release` profile's opt-level choice: builds all six workloads for wasm32-wasip1 and
# x86_64-unknown-linux-musl with opt-level s, z, 2 and 3 (plus scalar Wasm modules without SIMD),
# prints every artifact's size, then times `hash` and `image` (time.py).
#
#   workloads/profiles/measure.sh [ROUNDS]      # needs python3 with `pip install wasmtime==48.0.0`
#
# Builds go to $PROFILES_TARGET (default <repo>/target/profiles); nothing else is touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
workloads=$(dirname "$here")
base=${PROFILES_TARGET:-$(dirname "$workloads")/target/profiles}
rounds=${1:-15}
cd "$workloads"
for opt in s z 2 3; do
  for target in wasm32-wasip1 x86_64-unknown-linux-musl; do
    CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt cargo build -q --release --target "$target" \
      --target-dir "$base/opt-$opt"
  done
  # Scalar Wasm: no blake3 SIMD feature, no simd128 (RUSTFLAGS replaces .cargo/config.toml's).
  CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt RUSTFLAGS= cargo build -q --release --no-default-features \
    --target wasm32-wasip1 --target-dir "$base/opt-$opt-nosimd"
done
printf '%-8s %-7s' build workload; for opt in s z 2 3; do printf ' %10s' "opt=$opt"; done; echo
for kind in wasm wasm-nosimd native; do
  for w in noop hash prime sleep json image; do
    printf '%-8s %-7s' "${kind/-nosimd/-scalar}" "$w"
    for opt in s z 2 3; do
      case $kind in
        wasm) f=$base/opt-$opt/wasm32-wasip1/release/$w.wasm ;;
        wasm-nosimd) f=$base/opt-$opt-nosimd/wasm32-wasip1/release/$w.wasm ;;
        native) f=$base/opt-$opt/x86_64-unknown-linux-musl/release/$w ;;
      esac
      printf ' %10s' "$(stat -c %s "$f")"
    done
    echo
  done
done
python3 "$here/time.py" "$base" "$rounds"
