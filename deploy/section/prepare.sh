#!/bin/sh
# The platform's prepare hook. edgechain needs no preparation: plugins are
# compiled when the chain loads (and cached on disk with --compile-cache).
exit 0
