#!/usr/bin/env bash
# The http-tests cache-tests suite (`http-cache-tests` on npm, pinned in
# bench/cache-tests/package-lock.json) against a cache in front of its origin.
#
#   bash bench/cache-tests.sh [TARGET...]
#
# TARGET (default `edgechain`):
#   edgechain          EDGECHAIN_BIN (default target/release/edgechain) serving a chain that
#                      is only the cache entry, `{"name": "cache", "cache": {}}`
#   edgechain-nocache  the same binary with an empty chain: the baseline without a cache
#   nginx              nginx with proxy_cache, configured as the suite's own docker/nginx
#   varnish            varnishd with Debian's default VCL and the suite's docker/serve.sh flags
#
# For each target: starts the suite's origin server on CACHE_TESTS_ORIGIN_PORT (default
# 8000, the port the suite expects), the proxy in front of it on a free port, runs the
# suite's CLI against the proxy, and prints
#   cache-tests <target>: required P/T, optional P/T, checks P/T
# counted as the suite's published results are (bench/cache-tests/count.mjs). Written to
# CACHE_TESTS_OUT/<target>/ (default target/cache-tests/): results.json (the suite's raw
# JSON), summary.txt, failing-required.txt (ids, names and details), and the logs.
# CACHE_TESTS_DIR runs another copy of the suite (e.g. a checkout of its repository).
#
# Exits non-zero only when a run breaks (a server does not start, the CLI fails, results
# are missing or nothing passes), never on the pass counts themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=$PWD/bench/cache-tests
suite=${CACHE_TESTS_DIR:-$bench/node_modules/http-cache-tests}
out=${CACHE_TESTS_OUT:-$PWD/target/cache-tests}
origin_port=${CACHE_TESTS_ORIGIN_PORT:-8000}
edgechain_bin=${EDGECHAIN_BIN:-$PWD/target/release/edgechain}
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(edgechain)

log() { printf 'cache-tests: %s\n' "$*" >&2; }
fail() {
    log "FAILED: $*"
    exit 1
}
# `retry SECONDS CMD...`: run CMD every 100 ms until it succeeds; false after SECONDS.
retry() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}
port_free() {
    python3 -c "import socket as s, sys; k = s.socket(); k.setsockopt(s.SOL_SOCKET, s.SO_REUSEADDR, 1); k.bind(('127.0.0.1', int(sys.argv[1])))" "$1" 2>/dev/null
}
free_port() { python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
# Any HTTP answer at all (the origin answers 404 to `/`).
answers() { curl -s -o /dev/null --max-time 2 "$1"; }
# A 2xx answer (readiness).
ok() { curl -fs -o /dev/null --max-time 2 "$1"; }

command -v node >/dev/null || fail "node is needed (Debian: apt-get install nodejs npm)"
if [ -z "${CACHE_TESTS_DIR:-}" ] && [ ! -f "$suite/package.json" ]; then
    npm ci --prefix "$bench" --no-audit --no-fund --loglevel error >&2
fi
[ -f "$suite/package.json" ] || fail "no cache-tests suite in $suite"
# The npm release keeps its engine at the top; the repository's head in test-engine/.
engine=$suite
[ ! -d "$suite/test-engine" ] || engine=$suite/test-engine

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# `start_proxy TARGET DIR PORT`: starts the proxy on PORT, its files and logs in DIR;
# sets `ready`, a command that succeeds once it serves.
start_proxy() {
    local target=$1 dir=$2 port=$3
    ready=(answers "http://127.0.0.1:$port/")
    case $target in
    edgechain | edgechain-nocache)
        [ -x "$edgechain_bin" ] || fail "no edgechain binary at $edgechain_bin (set EDGECHAIN_BIN)"
        mkdir -p "$dir/config"
        if [ "$target" = edgechain ]; then
            echo '{ "proxychain": [ { "name": "cache", "cache": {} } ] }' >"$dir/config/proxychain.json"
        else
            echo '{ "proxychain": [] }' >"$dir/config/proxychain.json"
        fi
        "$edgechain_bin" validate "$dir/config" >"$dir/validate.log" 2>&1 ||
            fail "$target: edgechain validate rejects the config: $(cat "$dir/validate.log")"
        local admin
        admin=$(free_port)
        "$edgechain_bin" serve --config "$dir/config" --listen "127.0.0.1:$port" \
            --next-hop "127.0.0.1:$origin_port" --admin "127.0.0.1:$admin" --worker-threads 1 \
            --poll-interval 0 --compile-cache off >"$dir/access.log" 2>"$dir/stderr.log" &
        pids+=($!)
        ready=(ok "http://127.0.0.1:$admin/readyz")
        ;;
    nginx)
        command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx-light)"
        # nginx started as root runs its worker as another user.
        mkdir -p "$dir/cache" "$dir/tmp"
        chmod 0777 "$dir/cache" "$dir/tmp"
        # The suite's docker/nginx/nginx.conf, inside Debian's default http block.
        cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 2048; }
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $dir/access.log;
    gzip on;
    client_body_temp_path $dir/tmp/body;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    proxy_cache_path $dir/cache levels=1:2 keys_zone=my-cache:8m max_size=1000m inactive=600m;
    proxy_temp_path $dir/tmp/proxy;
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://127.0.0.1:$origin_port;
            proxy_cache my-cache;
            proxy_cache_revalidate on;
            proxy_http_version 1.1;
        }
    }
}
EOF
        nginx -c "$dir/nginx.conf" -p "$dir" 2>"$dir/stderr.log" &
        pids+=($!)
        ;;
    varnish)
        command -v varnishd >/dev/null || fail "varnishd is not installed (apt-get install varnish)"
        # Debian's /etc/varnish/default.vcl, its backend on the suite's origin.
        cat >"$dir/default.vcl" <<EOF
vcl 4.1;
backend default {
    .host = "127.0.0.1";
    .port = "$origin_port";
}
sub vcl_recv {
}
sub vcl_backend_response {
}
sub vcl_deliver {
}
EOF
        # The flags of the suite's docker/serve.sh.
        varnishd -F -j unix -n "$dir/varnish" -a "127.0.0.1:$port" -f "$dir/default.vcl" \
            -p default_ttl=0 -p default_grace=0 -p default_keep=3600 -s malloc,64M \
            >"$dir/stderr.log" 2>&1 &
        pids+=($!)
        ;;
    *) fail "unknown target $target (edgechain, edgechain-nocache, nginx, varnish)" ;;
    esac
}

for target in "${targets[@]}"; do
    dir=$out/$target
    rm -rf "$dir"
    mkdir -p "$dir"
    work=$(mktemp -d)
    chmod 0755 "$work" # nginx's worker and varnishd's children run as other users when root
    port_free "$origin_port" ||
        fail "port $origin_port (the suite's origin) is in use; free it or set CACHE_TESTS_ORIGIN_PORT"
    # The origin: the suite's server, as `npm run server` starts it.
    npm_package_config_protocol=http npm_package_config_port=$origin_port \
        npm_package_config_pidfile=$work/server.pid \
        node "$engine/server/server.mjs" >"$dir/origin.log" 2>&1 &
    pids+=($!)
    retry 20 answers "http://127.0.0.1:$origin_port/" || fail "the suite's origin did not start: $(cat "$dir/origin.log")"

    port=$(free_port)
    start_proxy "$target" "$work" "$port"
    retry 60 "${ready[@]}" || fail "$target did not answer on port $port within 60 s: $(tail -5 "$work/stderr.log")"
    answers "http://127.0.0.1:$port/config/" || fail "$target does not forward to the origin"

    started=$SECONDS
    # The suite's CLI, as `npm run cli --base=URL` runs it; bounded, should a proxy hang.
    if ! npm_config_base=http://127.0.0.1:$port npm_package_config_id='' \
        timeout 900 node --no-warnings "$engine/cli.mjs" >"$dir/results.json" 2>"$dir/cli.log"; then
        fail "$target: the suite's CLI failed: $(tail -5 "$dir/cli.log")"
    fi
    [ ! -s "$dir/cli.log" ] || log "$target: the CLI wrote to stderr (see $dir/cli.log)"
    cleanup
    cp "$work"/*.log "$dir/" 2>/dev/null || true
    rm -rf "$work"

    summary=$(node "$bench/count.mjs" "$suite" "$dir/results.json" "$dir") ||
        fail "$target: the results do not count: $summary (see $dir)"
    echo "${summary/cache-tests:/cache-tests $target:} ($((SECONDS - started)) s; $dir)"
done
