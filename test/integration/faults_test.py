#!/usr/bin/python3
"""Faults around the proxy: an upstream killed with SIGKILL under load and
restarted, the proxy out of file descriptors, and an access log that cannot
be written. In each the proxy stays up, says what happened (log and stats)
and serves again as soon as the fault is gone."""

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from admin_client import Admin  # noqa: E402
from harness import EchoUpstream, Proxy, cluster, listener, upgrade_request  # noqa: E402
import websockets  # noqa: E402

ECHO_SERVER = os.path.join(harness.REPO, "tools", "echo_server.py")


def start_echo_server(port=0):
    """tools/echo_server.py in its own process (so it can be SIGKILLed);
    returns (process, port) once it listens."""
    process = subprocess.Popen(["/usr/bin/python3", ECHO_SERVER, "--port", str(port)], stdout=subprocess.PIPE,
                               text=True, preexec_fn=harness._child_setup)
    line = process.stdout.readline()
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not match:
        process.kill()
        raise AssertionError(f"echo server did not start: {line!r}")
    return process, int(match.group(1))


async def stat(admin, name):
    values, _ = await asyncio.to_thread(admin.stats, "^" + re.escape(name) + "$")
    return values.get(name, 0)


class UpstreamKilledTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.echo, self.echo_port = start_echo_server()
        self.proxy = Proxy(listener() + cluster(port=self.echo_port))
        self.admin = Admin(self.proxy.admin_port)

    async def asyncTearDown(self):
        self.admin.close()
        self.assertEqual(self.proxy.stop(), 0, self.proxy.log())
        if self.echo.poll() is None:
            self.echo.kill()
        self.echo.wait()

    async def test_clients_see_a_prompt_close_and_new_connections_succeed_after_restart(self):
        clients = [await websockets.connect(self.proxy.url("/"), ping_interval=None, open_timeout=20)
                   for _ in range(20)]
        exchanged = [0] * len(clients)

        async def load(i, ws):
            # Messages until the connection ends (bounded in count and time).
            deadline = time.monotonic() + 60
            try:
                for n in range(1_000_000):
                    if time.monotonic() > deadline:
                        return "still open after 60 s"
                    await ws.send(f"{i}:{n}")
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 20), f"{i}:{n}")
                    exchanged[i] += 1
            except websockets.ConnectionClosed:
                return "closed"

        tasks = [asyncio.create_task(load(i, ws)) for i, ws in enumerate(clients)]
        await harness.async_wait_until(lambda: all(n >= 5 for n in exchanged), 30, "every client to exchange")
        killed_at = time.monotonic()
        self.echo.kill()
        self.echo.wait()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        self.assertEqual(outcomes, ["closed"] * len(clients))
        self.assertLess(time.monotonic() - killed_at, 10, "clients should see the close promptly")
        self.assertIsNone(self.proxy.process.poll(), "the proxy must stay up")

        # With the upstream gone: a clear 502, counted.
        before = await stat(self.admin, "cluster.echo.upstream_cx_connect_fail")
        response = await harness.raw_exchange(self.proxy.port(), upgrade_request(), timeout=20)
        self.assertEqual(harness.status_of(response), 502, response)
        self.assertIn("cannot connect to upstream", self.proxy.log())
        self.assertGreater(await stat(self.admin, "cluster.echo.upstream_cx_connect_fail"), before)
        entries = [e for e in self.proxy.access_log() if e.get("closed_by") == "upstream"]
        self.assertGreaterEqual(len(entries), len(clients))

        # Restarted on the same port: new connections succeed.
        self.echo, _ = start_echo_server(self.echo_port)
        self.assertEqual(await harness.echo_roundtrip(self.proxy.url("/"), "back"), "back")


class OutOfDescriptorsTest(unittest.IsolatedAsyncioTestCase):
    OPEN_FILES = 96

    async def asyncSetUp(self):
        self.upstream = await EchoUpstream().__aenter__()
        self.proxy = Proxy(listener() + cluster(port=self.upstream.port) +
                           'admin { address { address: "127.0.0.1" port: 0 } '
                           'http_address { address: "127.0.0.1" port: 0 } }\n',
                           concurrency=1, open_files=self.OPEN_FILES)
        self.http_port = int(re.search(r"admin http listening on 127\.0\.0\.1:(\d+)", self.proxy.log()).group(1))

    async def asyncTearDown(self):
        self.assertEqual(self.proxy.stop(), 0, self.proxy.log())
        await self.upstream.__aexit__(None, None, None)

    def open_descriptors(self):
        return len(os.listdir(f"/proc/{self.proxy.process.pid}/fd"))

    def metric(self, name):
        """A value from /metrics (wsproxy's own HTTP server, which recovers
        from a descriptor shortage; gRPC's admin listener does not, see
        docs/reliability.md)."""
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10).read().decode()
        except OSError:
            return None
        match = re.search(r"^" + re.escape(name) + r" (\d+)$", text, re.M)
        return int(match.group(1)) if match else 0

    async def test_accept_backs_off_and_service_resumes_when_descriptors_free_up(self):
        # wsproxy sizes its connection limit to the descriptors it has, so
        # proxied connections alone cannot exhaust them: idle TCP
        # connections to the gRPC admin port (each one descriptor) do.
        self.assertIn("at most 16 connections", self.proxy.log())
        held = [await websockets.connect(self.proxy.url("/"), ping_interval=None, open_timeout=20) for _ in range(5)]
        hogs = [socket.create_connection(("127.0.0.1", self.proxy.admin_port)) for _ in range(self.OPEN_FILES)]
        try:
            harness.wait_until(lambda: self.open_descriptors() >= self.OPEN_FILES, 20, "the descriptors to run out")

            async def connect():
                return await websockets.connect(self.proxy.url("/"), ping_interval=None, open_timeout=60)

            waiting = asyncio.create_task(connect())
            await harness.async_wait_until(
                lambda: "listener public: cannot accept: Too many open files; backing off" in self.proxy.log(), 20,
                "the accept failure in the log")
            self.assertIsNone(self.proxy.process.poll(), "the proxy must stay up")
            # The connections it holds still work.
            for ws in held:
                await ws.send("held")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "held")
        finally:
            for hog in hogs:
                hog.close()
        # The waiting client is accepted once descriptors free up (within
        # the back-off: at most a second between attempts), or, accepted in
        # a moment when one was free, told 503 for want of a second one.
        try:
            ws = await asyncio.wait_for(waiting, 30)
            await ws.send("again")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "again")
            held.append(ws)
        except websockets.InvalidStatusCode as rejected:
            self.assertEqual(rejected.status_code, 503)
            self.assertIn("cannot open a socket to the upstream: Too many open files", self.proxy.log())
        self.assertEqual(await harness.echo_roundtrip(self.proxy.url("/"), "served"), "served")
        await harness.async_wait_until(lambda: re.search(r"listener public: accepting again after \d+ failed",
                                                         self.proxy.log()), 10, "the recovery in the log")
        failures = await asyncio.to_thread(
            harness.wait_until, lambda: self.metric('wsproxy_listener_downstream_cx_accept_error{listener="public"}'),
            20, "/metrics to answer with the accept errors counted")
        self.assertGreater(failures, 0)
        for ws in held:
            await ws.close()


class MetricsFloodTest(unittest.IsolatedAsyncioTestCase):
    async def test_idle_connections_to_the_metrics_port_hold_few_descriptors(self):
        async with EchoUpstream() as upstream:
            proxy = Proxy(listener() + cluster(port=upstream.port) +
                          'admin { address { address: "127.0.0.1" port: 0 } '
                          'http_address { address: "127.0.0.1" port: 0 } }\n')
            try:
                http_port = int(re.search(r"admin http listening on 127\.0\.0\.1:(\d+)", proxy.log()).group(1))
                descriptors = lambda: len(os.listdir(f"/proc/{proxy.process.pid}/fd"))
                before = descriptors()
                hogs = [socket.create_connection(("127.0.0.1", http_port)) for _ in range(200)]
                for hog in hogs:
                    hog.setblocking(False)

                def refused():
                    # Past 16 open exchanges, each new connection is closed at once.
                    count = 0
                    for hog in hogs:
                        try:
                            count += hog.recv(1) == b""
                        except BlockingIOError:
                            pass
                        except ConnectionError:
                            count += 1
                    return count >= 200 - 16

                harness.wait_until(refused, 20, "connections past the cap to be closed")
                self.assertLessEqual(descriptors(), before + 16)
                for hog in hogs:
                    hog.close()
                self.assertEqual(await harness.echo_roundtrip(proxy.url("/"), "unharmed"), "unharmed")

                def metrics():
                    try:
                        return b"wsproxy_listener_downstream_cx_total" in urllib.request.urlopen(
                            f"http://127.0.0.1:{http_port}/metrics", timeout=10).read()
                    except OSError:
                        return False

                # The held exchanges end at their 5 s read timeout at most.
                harness.wait_until(metrics, 20, "/metrics to answer again")
            finally:
                self.assertEqual(proxy.stop(), 0, proxy.log())


class UnwritableAccessLogTest(unittest.IsolatedAsyncioTestCase):
    async def test_proxying_goes_on_and_the_failures_are_counted(self):
        async with EchoUpstream() as upstream:
            proxy = Proxy(listener() + cluster(port=upstream.port) + 'access_log { path: "/dev/full" }\n')
            admin = Admin(proxy.admin_port)
            try:
                for i in range(5):
                    self.assertEqual(await harness.echo_roundtrip(proxy.url("/"), f"m{i}"), f"m{i}")
                await harness.async_wait_until_async(
                    lambda: self._at_least(admin, "access_log.write_errors", 5), 20, "write errors to be counted")
                log = proxy.log()
                self.assertEqual(log.count("cannot write the access log"), 1, log)
                self.assertIn("No space left on device", log)
            finally:
                admin.close()
                self.assertEqual(proxy.stop(), 0, proxy.log())

    async def _at_least(self, admin, name, n):
        return await stat(admin, name) >= n


if __name__ == "__main__":
    harness.main()
