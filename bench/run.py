#!/usr/bin/python3
"""Side-by-side WebSocket proxy benchmark: direct to the echo upstream (the
limit), wsproxy, nginx and HAProxy (Debian's packages), each started fresh
per scenario with the same number of workers (1 and 2), over ws and wss
(TLS 1.3, TLS_AES_128_GCM_SHA256 for everyone).

Scenarios (tools/bench/wsbench.cc generates the load and checks every echo):
  latency     1 connection, 1 in flight, 64 B
  throughput  50 connections, 8 in flight, 1 KiB
  large       10 connections, 4 in flight, 64 KiB
  handshake   connect + TLS + upgrade + one echo + close, repeatedly
              (wss: full handshakes, and again with session resumption)
  idle        as many idle connections as fit (9,800 by default), held

For each it records the generator's figures and the proxy processes' own
CPU time (from /proc/<pid>/task/*/schedstat, over the measured window) and
memory (RSS), and writes bench/results/<date>.md with ratios to nginx, to
HAProxy and to direct, and a PNG plot.

  /usr/bin/python3 bench/run.py                    # everything (~20 min; 10.5 min with --duration 5 --warmup 1)
  /usr/bin/python3 bench/run.py --quick            # shorter runs, fewer idle connections
  /usr/bin/python3 bench/run.py --scenarios throughput --targets wsproxy,nginx --workers 1

--echo-batch: the echo upstream answers each burst of frames in one write
(wsecho --batch) instead of one write per message.

A change's before and after, in one run, three times over (each figure is
the run with the median CPU figure): build the earlier commit, copy its
bazel-bin/source/server/wsproxy somewhere, then
  /usr/bin/python3 bench/run.py --quick --workers 1 --baseline /tmp/wsproxy-before --repeat 3
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "bazel-bin")
WSPROXY = os.path.join(BIN, "source/server/wsproxy")
WSBENCH = os.path.join(BIN, "tools/bench/wsbench")
WSECHO = os.path.join(BIN, "tools/bench/wsecho")
CIPHER = "TLS_AES_128_GCM_SHA256"

SCENARIOS = {
    "latency": dict(mode="traffic", connections=1, in_flight=1, size=64),
    "throughput": dict(mode="traffic", connections=50, in_flight=8, size=1024),
    "large": dict(mode="traffic", connections=10, in_flight=4, size=65536),
    "handshake": dict(mode="handshake", connections=8, in_flight=1, size=64),
    "idle": dict(mode="idle", connections=9800, in_flight=1, size=64),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def family(pid):
    """pid and its descendants (nginx workers are children of the master)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ns(pids):
    """CPU time used so far by every thread of `pids`, in ns."""
    total = 0
    for pid in pids:
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total


class Certs:
    def __init__(self, directory):
        self.dir = directory
        run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
        self.key = os.path.join(directory, "key.pem")
        self.cert = os.path.join(directory, "cert.pem")
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", self.key, "-out", self.cert)
        self.combined = os.path.join(directory, "combined.pem")  # HAProxy wants both in one file
        with open(self.combined, "w") as out:
            out.write(open(self.cert).read() + open(self.key).read())


class Target:
    """One proxy (or none: direct) in front of the echo upstream."""

    def __init__(self, name, workers, tls, echo_port, certs, work, baseline=None):
        self.name, self.workers, self.tls = name, workers, tls
        self.binary = baseline if name == "baseline" else WSPROXY
        self.echo_port, self.certs, self.work = echo_port, certs, work
        self.process = None
        self.port = None

    def start(self):
        if self.name == "direct":
            return
        self.port = free_port()
        starter = getattr(self, "_start_" + self.name)
        self.process = starter()
        wait_listening(self.port, self.process)

    def pids(self):
        return family(self.process.pid) if self.process else []

    def _start_wsproxy(self):
        tls = (f'tls {{ certificates {{ certificate_chain_file: "{self.certs.cert}" '
               f'private_key_file: "{self.certs.key}" }} }}') if self.tls else ""
        config = os.path.join(self.work, "wsproxy.textproto")
        with open(config, "w") as f:
            f.write(f"""
listeners {{
  name: "bench"
  address {{ address: "127.0.0.1" port: {self.port} }}
  {tls}
  routes {{ path_prefix: "/" cluster: "echo" }}
}}
clusters {{ name: "echo" endpoints {{ address: "127.0.0.1" port: {self.echo_port} }} }}
admin {{ address {{ address: "127.0.0.1" port: 0 }} }}
access_log {{ disabled: true }}
drain {{ shutdown_grace_period {{ }} shutdown_timeout {{ seconds: 2 }} }}
""")
        log = open(os.path.join(self.work, "wsproxy.log"), "w")
        return subprocess.Popen([self.binary, "--config", config, "--concurrency", str(self.workers)],
                                stdout=log, stderr=log)

    _start_baseline = _start_wsproxy

    def _start_nginx(self):
        prefix = os.path.join(self.work, "nginx")
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        ssl = (f"ssl; ssl_certificate {self.certs.cert}; ssl_certificate_key {self.certs.key}; "
               f"ssl_protocols TLSv1.3; ssl_session_cache shared:SSL:10m;") if self.tls else ";"
        config = os.path.join(prefix, "nginx.conf")
        with open(config, "w") as f:
            f.write(f"""
user root;
worker_processes {self.workers};
worker_rlimit_nofile 20000;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 20000; multi_accept on; }}
http {{
  access_log off;
  upstream echo {{ server 127.0.0.1:{self.echo_port}; }}
  server {{
    listen 127.0.0.1:{self.port} {ssl}
    location / {{
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }}
  }}
}}
""")
        return subprocess.Popen(["nginx", "-p", prefix, "-c", config, "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _start_haproxy(self):
        bind = f"127.0.0.1:{self.port}" + (f" ssl crt {self.certs.combined} ssl-min-ver TLSv1.3" if self.tls else "")
        config = os.path.join(self.work, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(f"""
global
  nbthread {self.workers}
  maxconn 9950
  ssl-default-bind-ciphersuites {CIPHER}
defaults
  mode http
  timeout connect 5s
  timeout client 3600s
  timeout server 3600s
  timeout tunnel 3600s
frontend bench
  bind {bind}
  default_backend echo
backend echo
  server echo 127.0.0.1:{self.echo_port}
""")
        return subprocess.Popen(["haproxy", "-f", config, "-db"], stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(self.work, "haproxy.log"), "w"))

    def stop(self):
        if not self.process:
            return
        self.process.send_signal(signal.SIGTERM if self.name != "nginx" else signal.SIGQUIT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.process.wait()


def run_wsbench(args, on_line=None, timeout=600):
    """Runs wsbench; calls on_line(line) for each line as it comes; returns
    the final key=value line as a dict."""
    process = subprocess.Popen([WSBENCH, *args], stdout=subprocess.PIPE, text=True)
    result = {}
    deadline = time.monotonic() + timeout
    try:
        for line in process.stdout:
            line = line.strip()
            if on_line:
                on_line(line)
            if line.startswith("mode="):
                for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', line):
                    result[key] = value.strip('"')
            if time.monotonic() > deadline:
                process.kill()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    return result


def measure(target_name, workers, tls, scenario, options, certs, echo_port, echo_tls_port, work):
    spec = SCENARIOS[scenario.replace("_resumed", "")]
    target = Target(target_name, workers, tls, echo_tls_port if (tls and target_name == "direct") else echo_port,
                    certs, work, options.baseline)
    target.start()
    port = target.port or (echo_tls_port if tls else echo_port)
    url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/bench"
    connections = options.idle_connections if spec["mode"] == "idle" else spec["connections"]
    args = ["--url", url, "--mode", spec["mode"], "--connections", str(connections),
            "--in-flight", str(spec["in_flight"]), "--size", str(spec["size"]),
            "--warmup", str(options.warmup), "--duration", str(options.duration),
            "--sources", "32", "--connect-rate", "3000", "--tls13-cipher", CIPHER, "--hold", str(options.hold)]
    if tls:
        args += ["--ca", certs.cert]
    if scenario.endswith("_resumed"):
        args += ["--resume"]
    samples = {}
    pids = target.pids()
    samples["rss_before_kb"] = rss_kb(pids)

    def on_line(line):
        if line == "measure start":
            samples["cpu_start"] = cpu_ns(target.pids())
        elif line == "measure stop":
            samples["cpu_stop"] = cpu_ns(target.pids())
        elif line.startswith("established"):
            time.sleep(1)
            samples["rss_held_kb"] = rss_kb(target.pids())

    try:
        result = run_wsbench(args, on_line)
        time.sleep(1)
        samples["rss_after_kb"] = rss_kb(target.pids())
    finally:
        target.stop()
    row = dict(target=target_name, workers=workers, transport="wss" if tls else "ws", scenario=scenario, **result)
    if "cpu_start" in samples and "cpu_stop" in samples and target.process:
        cpu_us = (samples["cpu_stop"] - samples["cpu_start"]) / 1000
        count = int(result.get("cycles", 0)) if spec["mode"] == "handshake" else 2 * int(result.get("messages", 0))
        row["proxy_cpu_us_per_unit"] = cpu_us / count if count else None
        row["proxy_cpu_percent"] = cpu_us / (options.duration * 1e6) * 100
    if spec["mode"] == "idle" and target.process and "rss_held_kb" in samples:
        held = int(result.get("connections_ok", 0))
        row["rss_before_kb"] = samples["rss_before_kb"]
        row["rss_held_kb"] = samples["rss_held_kb"]
        row["rss_after_kb"] = samples["rss_after_kb"]
        row["bytes_per_connection"] = (samples["rss_held_kb"] - samples["rss_before_kb"]) * 1024 / held if held else None
    return row


def median_runs(runs):
    """One row per target and worker count: the run whose CPU (or memory)
    figure is the median of its repeats, with the repeat count."""
    groups = {}
    for r in runs:
        groups.setdefault((r["target"], r["workers"]), []).append(r)
    chosen = []
    for group in groups.values():
        idle = SCENARIOS[group[0]["scenario"].replace("_resumed", "")]["mode"] == "idle"
        metric = "bytes_per_connection" if idle else "proxy_cpu_us_per_unit"
        ranked = sorted(group, key=lambda r: (r.get(metric) is None, r.get(metric) or 0))
        row = dict(ranked[(len(ranked) - 1) // 2])
        row["runs"] = len(group)
        chosen.append(row)
    return chosen


def fmt(value, digits=1):
    if value is None or value == "":
        return "-"
    try:
        return f"{float(value):,.{digits}f}"
    except ValueError:
        return str(value)


def ratio(a, b):
    try:
        return f"{float(a) / float(b):.2f}x"
    except (TypeError, ValueError, ZeroDivisionError):
        return "-"


def versions():
    def out(*cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "not found"
    cpu = "unknown"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except (OSError, AttributeError):
        pass
    return {"wsproxy": "commit " + out("git", "-C", REPO, "rev-parse", "--short", "HEAD"), "nginx": out("nginx", "-v"),
            "haproxy": out("haproxy", "-v"), "kernel": platform.release(), "cpu": cpu,
            "cores": str(os.cpu_count())}


def write_report(rows, options, path, started):
    lines = [f"# Benchmark {started:%Y-%m-%d %H:%M} UTC", "",
             f"Command: `/usr/bin/python3 bench/run.py {' '.join(sys.argv[1:])}`", ""]
    for key, value in versions().items():
        lines.append(f"- {key}: {value}")
    lines += ["", "CPU is the proxy processes' own CPU time over the measured window: per relayed message "
              "(an echo is two: one each way) in traffic scenarios, per whole connection cycle in handshake "
              "scenarios. Memory is RSS growth while idle connections are held, per connection. "
              "Ratios are wsproxy / other (lower is better for CPU, latency and memory; higher for throughput).", ""]
    by_key = {(r["target"], r["workers"], r["transport"], r["scenario"]): r for r in rows}
    for scenario in options.scenarios:
        for transport in options.transports:
            if scenario == "handshake_resumed" and transport == "ws":
                continue
            chosen = [r for r in rows if r["scenario"] == scenario and r["transport"] == transport]
            if not chosen:
                continue
            lines += [f"## {scenario}, {transport}", ""]
            if SCENARIOS[scenario.replace("_resumed", "")]["mode"] == "idle":
                lines += ["| target | workers | held | failed | RSS before (KB) | RSS held (KB) | RSS after (KB) | bytes/conn |",
                          "|---|---|---|---|---|---|---|---|"]
                for r in chosen:
                    lines.append(f"| {r['target']} | {r['workers']} | {r.get('connections_ok', '-')} | "
                                 f"{r.get('connections_failed', '-')} | {fmt(r.get('rss_before_kb'), 0)} | "
                                 f"{fmt(r.get('rss_held_kb'), 0)} | {fmt(r.get('rss_after_kb'), 0)} | "
                                 f"{fmt(r.get('bytes_per_connection'), 0)} |")
                metric = "bytes_per_connection"
            else:
                rate = "cycles_per_s" if "handshake" in scenario else "msgs_per_s"
                unit = "cycle" if "handshake" in scenario else "message"
                lines += [f"| target | workers | {rate} | MB/s | p50 us | p99 us | p99.9 us | proxy CPU us/{unit} | "
                          f"proxy CPU % | mismatches | errors |", "|---|---|---|---|---|---|---|---|---|---|---|"]
                for r in chosen:
                    lines.append(f"| {r['target']} | {r['workers']} | {fmt(r.get(rate))} | {fmt(r.get('mb_per_s'), 2)} | "
                                 f"{fmt(r.get('p50_us'), 0)} | {fmt(r.get('p99_us'), 0)} | {fmt(r.get('p999_us'), 0)} | "
                                 f"{fmt(r.get('proxy_cpu_us_per_unit'), 2)} | {fmt(r.get('proxy_cpu_percent'), 0)} | "
                                 f"{r.get('mismatches', '-')} | {r.get('errors', '-')} |")
                metric = "proxy_cpu_us_per_unit"
            lines.append("")
            for workers in options.workers:
                ours = by_key.get(("wsproxy", workers, transport, scenario))
                if not ours:
                    continue
                parts = []
                for other in ("baseline", "nginx", "haproxy"):
                    theirs = by_key.get((other, workers, transport, scenario))
                    if theirs:
                        parts.append(f"vs {other}: {metric} {ratio(ours.get(metric), theirs.get(metric))}")
                        if SCENARIOS[scenario.replace("_resumed", "")]["mode"] != "idle":
                            rate = "cycles_per_s" if "handshake" in scenario else "msgs_per_s"
                            parts.append(f"{rate} {ratio(ours.get(rate), theirs.get(rate))}, "
                                         f"p99 {ratio(ours.get('p99_us'), theirs.get('p99_us'))}")
                direct = by_key.get(("direct", 1, transport, scenario))
                if direct and SCENARIOS[scenario.replace("_resumed", "")]["mode"] != "idle":
                    parts.append(f"vs direct: p99 {ratio(ours.get('p99_us'), direct.get('p99_us'))}, "
                                 f"msgs_per_s {ratio(ours.get('msgs_per_s'), direct.get('msgs_per_s'))}")
                lines.append(f"- wsproxy, {workers} worker(s): " + "; ".join(parts))
            lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(path.replace(".md", ".json"), "w") as f:
        json.dump(rows, f, indent=1)


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("throughput", "msgs_per_s", "throughput, 1 KiB (msgs/s)"),
              ("latency", "p99_us", "latency p99, 64 B (us)"),
              ("idle", "bytes_per_connection", "idle memory (bytes/connection)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (scenario, metric, title) in zip(axes, panels):
        labels, values = [], []
        for r in rows:
            if r["scenario"] == scenario and r.get(metric) not in (None, "", "-"):
                labels.append(f"{r['target']}\n{r['transport']} w{r['workers']}")
                values.append(float(r[metric]))
        ax.bar(range(len(values)), values, color=["#2a7" if "wsproxy" in l else "#888" for l in labels])
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(labels, fontsize=7, rotation=60)
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="direct,wsproxy,nginx,haproxy")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--scenarios", default="latency,throughput,large,handshake,handshake_resumed,idle")
    parser.add_argument("--transports", default="ws,wss")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--hold", type=float, default=5)
    parser.add_argument("--idle-connections", type=int, default=9800)
    parser.add_argument("--quick", action="store_true", help="3 s runs, 2,000 idle connections")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--echo-batch", action="store_true",
                        help="the echo upstream answers each burst of frames in one write (wsecho --batch), "
                             "not each message in its own")
    parser.add_argument("--baseline", help="another wsproxy binary (an earlier build), measured as target 'baseline'")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure every target this many times, interleaved; report the median run")
    parser.add_argument("--out", default=None)
    options = parser.parse_args()
    # Stopped early: unwind, so every process started here is ended.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.quick:
        options.duration, options.warmup, options.hold, options.idle_connections = 3, 1, 2, 2000
    options.targets = options.targets.split(",")
    if options.baseline and "baseline" not in options.targets:
        options.targets.insert(options.targets.index("wsproxy") + 1 if "wsproxy" in options.targets else 0, "baseline")
    options.workers = [int(w) for w in options.workers.split(",")]
    options.scenarios = options.scenarios.split(",")
    options.transports = options.transports.split(",")
    started = datetime.datetime.utcnow()
    out = options.out or os.path.join(REPO, "bench", "results", f"{started:%Y-%m-%d}.md")
    if not out.endswith(".md"):
        out += ".md"  # the table; the rows go next to it as .json, the plot as .png
    if not options.no_build:
        subprocess.run(["bash", os.path.join(REPO, "tools", "bazel.sh"), "build", "//:wsproxy",
                        "//tools/bench:wsbench", "//tools/bench:wsecho"], check=True, cwd=REPO)
    # A test run with --config=asan leaves sanitized binaries in bazel-bin;
    # measuring those would compare nothing.
    for binary in [WSPROXY, WSBENCH, WSECHO] + ([options.baseline] if options.baseline else []):
        linked = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        if "libasan" in linked or "libtsan" in linked:
            sys.exit(f"{binary} is a sanitizer build: rebuild without --config (drop --no-build)")
    for tool in ("nginx", "haproxy"):
        if tool in options.targets and not shutil.which(tool):
            sys.exit(f"{tool} is not installed: apt-get install nginx-light haproxy")
    work = tempfile.mkdtemp(prefix="wsbench-")
    certs = Certs(work)
    echo_mode = ["--batch"] if options.echo_batch else []
    echo = subprocess.Popen([WSECHO, "--port", "0", "--threads", "1", *echo_mode], stdout=subprocess.PIPE, text=True)
    echo_port = int(re.search(r":(\d+)$", echo.stdout.readline().strip()).group(1))
    echo_tls = subprocess.Popen([WSECHO, "--port", "0", "--threads", "1", "--tls-cert", certs.cert,
                                 "--tls-key", certs.key, *echo_mode], stdout=subprocess.PIPE, text=True)
    echo_tls_port = int(re.search(r":(\d+)$", echo_tls.stdout.readline().strip()).group(1))
    rows = []
    try:
        for scenario in options.scenarios:
            for transport in options.transports:
                if scenario == "handshake_resumed" and transport == "ws":
                    continue
                runs = []
                for _ in range(options.repeat):
                    for target in options.targets:
                        for workers in ([1] if target == "direct" else options.workers):
                            if target == "direct" and scenario == "idle":
                                continue
                            row = measure(target, workers, transport == "wss", scenario, options, certs, echo_port,
                                          echo_tls_port, work)
                            runs.append(row)
                            print(json.dumps(row), flush=True)
                rows += median_runs(runs)
    finally:
        for p in (echo, echo_tls):
            p.terminate()
            p.wait()
    write_report(rows, options, out, started)
    plot(rows, out.replace(".md", ".png"))
    print(f"wrote {out} and {out.replace('.md', '.png')}")
    bad = [r for r in rows if r.get("mismatches") not in ("0", None)]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
