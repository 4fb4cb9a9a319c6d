#!/usr/bin/env bash
# wsproxy quick start: installs what is missing, builds, makes a self-signed
# certificate (once), starts the bundled echo upstream on 127.0.0.1:8090 and
# wsproxy on examples/quickstart.textproto (wss://127.0.0.1:8443), both in
# the background, and prints how to connect.
#   bash tools/quickstart.sh         start
#   bash tools/quickstart.sh stop    stop both
# Logs and process ids are kept in .quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.quickstart
tls=examples/tls

stop() {
  for name in wsproxy echo; do
    if [ -f "$state/$name.pid" ]; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
      rm -f "$state/$name.pid"
    fi
  done
}

# Polls `file` for `text` for up to 30 s; fails with the file's content.
wait_for() {
  local file=$1 text=$2 pid=$3
  for _ in $(seq 300); do
    grep -q "$text" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "did not start; its log ($file):" >&2
  cat "$file" >&2
  stop
  exit 1
}

if [ "${1:-start}" = stop ]; then
  stop
  echo "stopped"
  exit 0
fi

bash tools/install_deps.sh
bash tools/bazel.sh build //:wsproxy

mkdir -p "$state" "$tls"
if [ ! -f "$tls/quickstart-cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=wsproxy quick start" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tls/quickstart-key.pem" -out "$tls/quickstart-cert.pem" 2>/dev/null
  echo "made a self-signed certificate: $tls/quickstart-cert.pem"
fi

stop
/usr/bin/python3 tools/echo_server.py --port 8090 >"$state/echo.log" 2>&1 &
echo $! >"$state/echo.pid"
wait_for "$state/echo.log" "listening" "$(cat "$state/echo.pid")"

bazel-bin/source/server/wsproxy --config examples/quickstart.textproto \
  >"$state/access.log" 2>"$state/wsproxy.log" &
echo $! >"$state/wsproxy.pid"
wait_for "$state/wsproxy.log" " started: " "$(cat "$state/wsproxy.pid")"

cat <<MSG

wsproxy is running: wss://127.0.0.1:8443 -> echo upstream ws://127.0.0.1:8090
  process log: $state/wsproxy.log    access log: $state/access.log

Connect (type a line, the echo comes back through the proxy; Ctrl-D to quit):
  SSL_CERT_FILE=$tls/quickstart-cert.pem /usr/bin/python3 -m websockets wss://127.0.0.1:8443/

Ask the admin API (gRPC with reflection) about the proxy and its connections:
  tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge http://127.0.0.1:9901/wsproxy.admin.v1.AdminService/GetServerInfo
  tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge http://127.0.0.1:9901/wsproxy.admin.v1.AdminService/ListConnections

Look at the TLS side:
  openssl s_client -connect 127.0.0.1:8443 -CAfile $tls/quickstart-cert.pem -brief </dev/null

Stop both:
  bash tools/quickstart.sh stop
MSG
