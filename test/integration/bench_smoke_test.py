#!/usr/bin/python3
"""A few seconds of each benchmark mode through wsproxy, ws and wss: the
load generator (tools/bench/wsbench) and the echo upstream
(tools/bench/wsecho, both ways of answering) run, and every echoed byte
checks out. The batching echo's frame handling is checked with
python3-websockets. Speed is never asserted here: bench/run.py measures it."""

import asyncio
import os
import re
import socket
import subprocess
import sys
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Proxy, certs, cluster, listener  # noqa: E402

WSBENCH = os.path.join(harness.REPO, "tools", "bench", "wsbench")
WSECHO = os.path.join(harness.REPO, "tools", "bench", "wsecho")


def results(output):
    line = [l for l in output.splitlines() if l.startswith("mode=")][-1]
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}


def start_echo(*args):
    echo = subprocess.Popen([WSECHO, "--port", "0", "--threads", "1", *args], stdout=subprocess.PIPE, text=True,
                            preexec_fn=harness._child_setup)
    return echo, int(re.search(r":(\d+)$", echo.stdout.readline().strip()).group(1))


class BenchSmokeTest(unittest.TestCase):
    ECHO_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.echo, cls.echo_port = start_echo(*cls.ECHO_ARGS)
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


class BatchEchoBenchSmokeTest(BenchSmokeTest):
    """The same runs against the echo that answers a burst in one write."""
    ECHO_ARGS = ("--batch",)


class BatchEchoFramesTest(unittest.IsolatedAsyncioTestCase):
    """wsecho --batch speaks WebSocket to an independent client."""

    @classmethod
    def setUpClass(cls):
        cls.echo, cls.port = start_echo("--batch")
        cls.url = f"ws://127.0.0.1:{cls.port}/"

    @classmethod
    def tearDownClass(cls):
        cls.echo.terminate()
        cls.echo.wait()

    async def test_messages_of_every_length_encoding_come_back(self):
        async with websockets.connect(self.url, max_size=None, compression=None) as ws:
            for message in ("", "héllo", b"\x00" * 125, b"\x01" * 126, os.urandom(65535), os.urandom(65536),
                            os.urandom(1 << 20)):
                await ws.send(message)
                self.assertEqual(await ws.recv(), message)

    async def test_a_burst_comes_back_whole_and_in_order(self):
        async with websockets.connect(self.url, compression=None) as ws:
            messages = [os.urandom(1 + i * 37) for i in range(200)]
            for m in messages:
                await ws.send(m)
            self.assertEqual([await ws.recv() for _ in messages], messages)

    async def test_a_fragmented_message_comes_back_whole(self):
        async with websockets.connect(self.url, compression=None) as ws:
            await ws.send(["frag", "ment", "ed"])
            self.assertEqual(await ws.recv(), "fragmented")

    async def test_a_ping_is_answered(self):
        async with websockets.connect(self.url, compression=None) as ws:
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, 10)

    async def test_the_close_code_comes_back(self):
        async with websockets.connect(self.url, compression=None) as ws:
            await ws.close(code=4001, reason="done")
            self.assertEqual((ws.close_code, ws.close_reason), (4001, "done"))

    def upgraded(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            self.assertTrue(chunk, head)
            head += chunk
        self.assertIn(b"101", head.split(b"\r\n")[0])
        self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head)  # RFC 6455's own example
        return s

    def rest_of(self, s):
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        return data

    def test_after_answering_a_close_the_server_ends_the_connection(self):
        with self.upgraded() as s:
            s.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # close 1000, masked with zeros
            self.assertEqual(self.rest_of(s), b"\x88\x02\x03\xe8")

    def test_an_unmasked_frame_ends_the_connection(self):
        with self.upgraded() as s:
            s.sendall(b"\x82\x02hi")  # a client frame must be masked
            self.assertEqual(self.rest_of(s), b"")

    def test_a_request_that_is_not_an_upgrade_gets_400(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = self.rest_of(s)
            self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer)


if __name__ == "__main__":
    harness.main()
