#!/usr/bin/python3
"""Soak: wsproxy under bounded connection churn with messages, checking it
neither grows nor leaks.

For --minutes (10 by default) three verifying load generators run at once
through one wsproxy (2 workers) to tools/bench/wsecho:
  - long-lived wss traffic: 20 connections, 4 in flight, 2 KiB messages;
  - ws churn: 4 slots, each connect, upgrade, one echo, close, repeatedly;
  - wss churn: 2 slots likewise, with TLS session resumption.
Every 10 s it samples the proxy's RSS and open descriptors. It passes when
  - RSS after the warm-up (--warmup-minutes, 2 by default) stays within 10%
    of the value at the end of the warm-up;
  - the descriptors open once the load has ended equal those before it;
  - every echoed byte matched and no generator saw an error.
It writes bench/results/soak-<date>.md and exits 1 if any check failed.

  /usr/bin/python3 bench/soak.py                 # 10 minutes
  /usr/bin/python3 bench/soak.py --minutes 1 --warmup-minutes 0.25
"""

import argparse
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (bench/run.py: the shared tools and helpers)


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--warmup-minutes", type=float, default=2)
    parser.add_argument("--no-build", action="store_true")
    options = parser.parse_args()
    # Stopped early: unwind, so every process started here is ended.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.warmup_minutes >= options.minutes:
        parser.error("the warm-up must be shorter than the run")
    if not options.no_build:
        subprocess.run(["bash", os.path.join(bench.REPO, "tools/bazel.sh"), "build", "//:wsproxy",
                        "//tools/bench:wsbench", "//tools/bench:wsecho"], check=True, cwd=bench.REPO)
    started = datetime.datetime.utcnow()
    seconds = options.minutes * 60
    work = tempfile.mkdtemp(prefix="wssoak-")
    certs = bench.Certs(work)
    echo = subprocess.Popen([bench.WSECHO, "--port", "0", "--threads", "1"], stdout=subprocess.PIPE, text=True)
    echo_port = int(echo.stdout.readline().strip().rsplit(":", 1)[1])
    tls_port, plain_port = bench.free_port(), bench.free_port()
    config = os.path.join(work, "soak.textproto")
    with open(config, "w") as f:
        f.write(f"""
listeners {{
  name: "wss"
  address {{ address: "127.0.0.1" port: {tls_port} }}
  tls {{ certificates {{ certificate_chain_file: "{certs.cert}" private_key_file: "{certs.key}" }} }}
  routes {{ path_prefix: "/" cluster: "echo" }}
}}
listeners {{
  name: "ws"
  address {{ address: "127.0.0.1" port: {plain_port} }}
  routes {{ path_prefix: "/" cluster: "echo" }}
}}
clusters {{ name: "echo" endpoints {{ address: "127.0.0.1" port: {echo_port} }} }}
admin {{ address {{ address: "127.0.0.1" port: 0 }} }}
access_log {{ path: "/dev/null" }}
""")
    log = open(os.path.join(work, "wsproxy.log"), "w")
    proxy = subprocess.Popen([bench.WSPROXY, "--config", config, "--concurrency", "2"], stdout=log, stderr=log)
    failures = []
    try:
        bench.wait_listening(tls_port, proxy)
        bench.wait_listening(plain_port, proxy)
        # Settle, then the baseline (the readiness probes' sockets are gone).
        time.sleep(1)
        fds_before = open_fds(proxy.pid)
        rss_start = bench.rss_kb([proxy.pid])
        common = ["--warmup", "1", "--duration", str(seconds), "--sources", "16", "--connect-rate", "500",
                  "--tls13-cipher", bench.CIPHER]
        loads = {
            "wss traffic": ["--url", f"wss://127.0.0.1:{tls_port}/soak", "--mode", "traffic", "--connections", "20",
                            "--in-flight", "4", "--size", "2048", "--ca", certs.cert],
            "ws churn": ["--url", f"ws://127.0.0.1:{plain_port}/soak", "--mode", "handshake", "--connections", "4",
                         "--in-flight", "1", "--size", "256"],
            "wss churn": ["--url", f"wss://127.0.0.1:{tls_port}/soak", "--mode", "handshake", "--connections", "2",
                          "--in-flight", "1", "--size", "256", "--ca", certs.cert, "--resume"],
        }
        results = {}
        threads = [threading.Thread(target=lambda n=n, a=a: results.__setitem__(
            n, bench.run_wsbench(a + common, timeout=seconds + 120))) for n, a in loads.items()]
        for t in threads:
            t.start()
        samples = []  # (seconds since start, RSS KB, open descriptors)
        t0 = time.monotonic()
        while any(t.is_alive() for t in threads) and time.monotonic() - t0 < seconds + 180:
            samples.append((time.monotonic() - t0, bench.rss_kb([proxy.pid]), open_fds(proxy.pid)))
            for t in threads:
                t.join(timeout=10 / len(threads))
        for t in threads:
            t.join(timeout=60)
        # Connections end asynchronously: wait (bounded) for the count to settle.
        deadline = time.monotonic() + 30
        while open_fds(proxy.pid) > fds_before and time.monotonic() < deadline:
            time.sleep(0.2)
        fds_after = open_fds(proxy.pid)
        rss_end = bench.rss_kb([proxy.pid])
        if proxy.poll() is not None:
            failures.append(f"wsproxy exited with {proxy.returncode}")
    finally:
        if proxy.poll() is None:
            proxy.terminate()
            proxy.wait(timeout=30)
        echo.terminate()
        echo.wait()

    warm = [s for s in samples if s[0] >= options.warmup_minutes * 60]
    reference = warm[0][1] if warm else None
    low = min(s[1] for s in warm) if warm else None
    high = max(s[1] for s in warm) if warm else None
    if not warm:
        failures.append("no samples after the warm-up")
    elif high > reference * 1.10 or low < reference * 0.90:
        failures.append(f"RSS left ±10% of {reference} KB after the warm-up: {low}..{high} KB")
    if fds_after != fds_before:
        failures.append(f"descriptors: {fds_before} before, {fds_after} after")
    lines = [f"# Soak {started:%Y-%m-%d %H:%M} UTC", "",
             f"Command: `/usr/bin/python3 bench/soak.py {' '.join(sys.argv[1:])}`", "",
             f"- duration: {options.minutes} min, warm-up {options.warmup_minutes} min, wsproxy 2 workers",
             f"- RSS: {rss_start} KB at start; after the warm-up {reference} KB, then {low}..{high} KB "
             f"({(high / reference - 1) * 100 if warm else 0:+.1f}% at most); {rss_end} KB at the end",
             f"- open descriptors: {fds_before} before, {max(s[2] for s in samples)} at most, {fds_after} after", ""]
    lines += ["| load | connections ok | failed | messages | cycles | mismatches | errors |", "|---|---|---|---|---|---|---|"]
    for name in loads:
        r = results.get(name, {})
        lines.append(f"| {name} | {r.get('connections_ok', '-')} | {r.get('connections_failed', '-')} | "
                     f"{r.get('messages', '-')} | {r.get('cycles', '-')} | {r.get('mismatches', '-')} | "
                     f"{r.get('errors', '-')} |")
        if not r:
            failures.append(f"{name}: no result")
        elif r.get("mismatches") != "0" or r.get("errors") != "0":
            failures.append(f"{name}: {r.get('mismatches')} mismatches, {r.get('errors')} errors")
    lines += ["", "RSS (KB) every 10 s: " + ", ".join(str(s[1]) for s in samples[::1]), "",
              "Result: " + ("pass" if not failures else "FAIL: " + "; ".join(failures))]
    os.makedirs(os.path.join(bench.REPO, "bench", "results"), exist_ok=True)
    path = os.path.join(bench.REPO, "bench", "results", f"soak-{started:%Y-%m-%d}.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
