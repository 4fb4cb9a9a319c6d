#!/usr/bin/env bash
# Runs Bazel with wsproxy's per-user disk cache, so a fresh clone reuses
# earlier build outputs. Usage: tools/bazel.sh build //:wsproxy
set -euo pipefail
command=$1
shift
exec bazel "$command" --disk_cache="$HOME/.cache/wsproxy-bazel-disk" "$@"
