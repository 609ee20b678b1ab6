#!/usr/bin/env bash
# End-to-end benchmark, one command: installs its tools (nginx, wrk) when
# missing, builds edgechain and the plugins in release mode, then runs every
# case side by side and writes the tables into docs/benchmarks.md. The
# `wasmtime serve` row needs the wasmtime CLI 48 on PATH (or WASMTIME=path).
#
#   bash bench/run.sh                 # 3 rounds of 5 s per case
#   ROUNDS=5 DURATION=10 bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq nginx-light wrk
fi
cargo build --release --locked -p edgechain-cli
cargo xtask plugins
cargo xtask wasi-http
python3 bench/e2e.py "$@"
