#!/bin/sh
# The platform's validation hook, run offline before a configuration is used:
# exit 0 and print nothing when /opt/proxy_config would load, otherwise exit
# non-zero with one JSON line per problem on stderr.
set -eu
exec "${EDGECHAIN_BIN:-/usr/local/bin/edgechain}" validate "${1:-${EDGECHAIN_CONFIG:-/opt/proxy_config}}"
