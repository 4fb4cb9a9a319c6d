#!/usr/bin/env bash
# Installs the Debian 12 packages wsproxy needs to build and test, skipping
# those already installed. Everything comes from Debian's archive: Bazel
# (bazel-bootstrap), the C++ libraries, and the independent clients the
# integration tests talk to the proxy with.
set -euo pipefail

packages=(
  # build
  bazel-bootstrap g++ libboost-dev libssl-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libabsl-dev libgtest-dev libgmock-dev
  # run and test
  ca-certificates openssl python3 python3-websockets nodejs node-ws
)

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
