#!/bin/sh
# The platform's validation hook, run offline before a configuration is used:
# exit 0 when /opt/proxy_config would load, otherwise exit non-zero with one
# JSON line per problem on stderr. A chain that loads prints nothing, except one
# "level":"WARN" JSON line on stderr per JavaScript or Python plugin link
# without "instance" (it runs per-request); the exit status is still 0.
set -eu
exec "${EDGECHAIN_BIN:-/usr/local/bin/edgechain}" validate "${1:-${EDGECHAIN_CONFIG:-/opt/proxy_config}}"
