#!/usr/bin/python3
"""A few seconds of each benchmark mode through wsproxy, ws and wss: the
load generator (tools/bench/wsbench) and the echo upstream
(tools/bench/wsecho) run, and every echoed byte checks out. Speed is never
asserted here: bench/run.py measures it."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Proxy, certs, cluster, listener  # noqa: E402

WSBENCH = os.path.join(harness.REPO, "tools", "bench", "wsbench")
WSECHO = os.path.join(harness.REPO, "tools", "bench", "wsecho")


def results(output):
    line = [l for l in output.splitlines() if l.startswith("mode=")][-1]
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}


class BenchSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = subprocess.Popen([WSECHO, "--port", "0", "--threads", "1"], stdout=subprocess.PIPE, text=True,
                                    preexec_fn=harness._child_setup)
        cls.echo_port = int(re.search(r":(\d+)$", cls.echo.stdout.readline().strip()).group(1))
        c = certs()
        cls.proxy = Proxy(listener("ws") + listener("wss", tls=(c.server_cert, c.server_key)) +
                          cluster(port=cls.echo_port))

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.echo.terminate()
        cls.echo.wait()

    def bench(self, scheme, *args):
        url = f"{scheme}://127.0.0.1:{self.proxy.port(scheme)}/bench"
        command = [WSBENCH, "--url", url, "--warmup", "0.5", "--duration", "1.5", *args]
        if scheme == "wss":
            command += ["--ca", certs().ca_cert]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        r = results(done.stdout)
        self.assertEqual(r["mismatches"], "0")
        self.assertEqual(r["errors"], "0", r.get("first_error"))
        return r

    def test_traffic_is_echoed_intact(self):
        for scheme in ("ws", "wss"):
            for size, in_flight in (("64", "1"), ("1024", "8"), ("65536", "4")):
                with self.subTest(scheme=scheme, size=size):
                    r = self.bench(scheme, "--mode", "traffic", "--connections", "4", "--in-flight", in_flight,
                                   "--size", size)
                    self.assertEqual(r["connections_ok"], "4")
                    self.assertGreater(int(r["messages"]), 0)

    def test_handshake_cycles_complete(self):
        for scheme, extra in (("ws", []), ("wss", []), ("wss", ["--resume"])):
            with self.subTest(scheme=scheme, resume=bool(extra)):
                r = self.bench(scheme, "--mode", "handshake", "--connections", "2", "--size", "64", *extra)
                self.assertGreater(int(r["cycles"]), 0)
                self.assertEqual(r["connections_failed"], "0")

    def test_idle_connections_are_held_and_still_answer(self):
        r = self.bench("wss", "--mode", "idle", "--connections", "200", "--hold", "0.5", "--sources", "4",
                       "--connect-rate", "2000")
        self.assertEqual((r["connections_ok"], r["messages"]), ("200", "200"))


if __name__ == "__main__":
    harness.main()
