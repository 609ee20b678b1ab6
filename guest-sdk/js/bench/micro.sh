#!/bin/bash
# Per-operation CPU cost inside a hook, per engine (NOTES.md).
#   bash guest-sdk/js/bench/micro.sh [quickjs|starlingmonkey]   (needs curl, bc; EDGECHAIN_BIN)
set -euo pipefail
ENGINE=${1:-quickjs}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${EDGECHAIN_BIN:-$HERE/../../../target/release/edgechain}
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
cp "$HERE/micro/proxy_config/proxychain.json" "$DIR/"
node "$HERE/../bin/edgechain-build.mjs" "$HERE/micro" "$DIR/micro.wasm" --engine "$ENGINE" --quiet
PORT=$((20000 + RANDOM % 20000)); ADMIN=$((PORT + 1))
"$BIN" demo --config "$DIR" --listen 127.0.0.1:$PORT --admin 127.0.0.1:$ADMIN --access-log off >/dev/null 2>&1 &
PID=$!
for _ in $(seq 600); do [ "$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:$ADMIN/readyz)" = 200 ] && break; sleep 0.1; done
TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
curl -s -o /dev/null "127.0.0.1:$PORT/?op=empty&n=1"
echo "engine $ENGINE: CPU µs per operation (one request runs it n times)"
for op in empty hmac sha256Block headerGet headerMiss headerSet queryParam cookie setPath randomInt mathRandom kvIncrement kvGet base64Url32 jsonParse; do
  n=20000; case $op in hmac|sha256Block) n=2000;; esac
  a=$(ticks)
  curl -s -o /dev/null -H 'user-agent: curl/7.88.1' -H 'accept: */*' -H 'cookie: a=1; b=2' "127.0.0.1:$PORT/checkout?step=1&op=$op&n=$n"
  b=$(ticks)
  printf "%-12s %6.1f\n" "$op" "$(echo "($b-$a)*1000000/$TCK/$n" | bc -l)"
done
