#!/bin/sh
# Bazel's test rules always depend on these coverage tools; wsproxy builds offline without them.
echo "coverage is not supported in this offline build" >&2
exit 1
