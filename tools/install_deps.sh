#!/usr/bin/env bash
# Installs the Debian 12 packages wsproxy needs to build and test, skipping
# those already installed. Everything comes from Debian's archive: Bazel
# (bazel-bootstrap), the C++ libraries, and the independent clients the
# integration tests talk to the proxy with.
set -euo pipefail

packages=(
  # build
  bazel-bootstrap g++ libboost-dev libssl-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libabsl-dev libgtest-dev libgmock-dev liburing-dev
  # run and test: independent clients (websockets, node's ws, gRPC stubs
  # generated at test time, Debian's reflection and health protos)
  ca-certificates openssl python3 python3-websockets nodejs node-ws
  python3-grpcio python3-grpc-tools grpc-proto python3-jwt python3-cryptography
  # fuzzing (tools/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
# npm comes with some Node.js builds; Debian packages it apart.
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# buf (from the npm registry): buf lint for api/, and buf curl, a grpcurl
# that needs no .proto files, in the admin API tests.
cd "$(dirname "$0")"
if [ ! -x node_modules/.bin/buf ]; then
  echo "installing buf (npm ci in tools/)"
  if ! npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>npm-error.log; then
    if grep -q -E "SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT|CERT_" npm-error.log; then
      # A TLS-intercepting proxy whose CA this machine does not trust. The
      # packages are still checked against the sha512 integrity hashes in
      # the committed package-lock.json, so a substitute would be refused.
      echo "npm: the registry's certificate is not trusted here; installing with the lockfile's integrity checks only"
      npm ci --no-audit --no-fund --loglevel=error --strict-ssl=false >/dev/null
    else
      cat npm-error.log >&2
      exit 1
    fi
  fi
  rm -f npm-error.log
fi
