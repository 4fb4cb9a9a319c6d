#!/usr/bin/python3
"""wsproxy relaying plain ws:// traffic end to end: messages of every size,
concurrency, subprotocols, close codes, ping, forwarded headers, timeouts,
and the HTTP errors a client gets when a connection cannot be proxied.
All of it twice: with the sockets on each worker's io_uring (the default),
and on epoll alone (--io_uring=false)."""

import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EchoUpstream, Proxy, cluster, listener  # noqa: E402
import websockets  # noqa: E402

SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


class ProxyTestCase(unittest.IsolatedAsyncioTestCase):
    proxies = None
    proxy_args = ()

    def start_proxy(self, config):
        proxy = Proxy(config, args=self.proxy_args)
        self.addCleanup(self._stop, proxy)
        return proxy

    def _stop(self, proxy):
        code = proxy.stop()
        self.assertEqual(code, 0, "wsproxy did not exit cleanly on SIGTERM:\n" + proxy.log())


class RelayTest(ProxyTestCase):
    backend = "io_uring"

    async def test_the_startup_line_names_the_socket_backend(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            harness.wait_until(lambda: " started: " in proxy.log(), 10, "the startup line")
            self.assertIn(f"sockets on {self.backend}\n", proxy.log())
            self.assertEqual(await harness.echo_roundtrip(proxy.url("/")), "still alive")

    async def test_text_and_binary_messages_of_every_size_arrive_intact(self):
        async with EchoUpstream(compression=None) as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            async with websockets.connect(proxy.url("/sizes"), max_size=None, compression=None) as ws:
                for size in SIZES:
                    text = "".join(chr(0x41 + (i % 26)) for i in range(size))
                    binary = bytes((i * 7 + 3) % 256 for i in range(size))
                    for payload in (text, binary):
                        await ws.send(payload)
                        echoed = await asyncio.wait_for(ws.recv(), 20)
                        self.assertEqual(type(echoed), type(payload), f"size {size}")
                        self.assertEqual(echoed, payload, f"size {size}")

    async def test_multibyte_utf8_text_arrives_intact(self):
        async with EchoUpstream(compression=None) as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            message = "héllo wörld ✓ 𝄞 " * 5000
            self.assertEqual(await harness.echo_roundtrip(proxy.url(), message, max_size=None), message)

    async def test_100_connections_times_100_messages_lose_and_reorder_nothing(self):
        async with EchoUpstream(compression=None) as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))

            async def client(n):
                async with websockets.connect(proxy.url(f"/c/{n}"), open_timeout=30, compression=None) as ws:
                    async def sender():
                        for i in range(100):
                            await ws.send(f"{n}:{i}:" + "x" * (i % 50))
                    send_task = asyncio.create_task(sender())
                    received = [await asyncio.wait_for(ws.recv(), 30) for _ in range(100)]
                    await send_task
                    return received

            results = await asyncio.gather(*(client(n) for n in range(100)))
            for n, received in enumerate(results):
                self.assertEqual(received, [f"{n}:{i}:" + "x" * (i % 50) for i in range(100)])
            self.assertEqual(len(upstream.requests), 100)

    async def test_permessage_deflate_is_negotiated_end_to_end(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            async with websockets.connect(proxy.url()) as ws:
                self.assertIn("permessage-deflate", ws.response_headers.get("Sec-WebSocket-Extensions", ""))
                await ws.send("compressible " * 1000)
                self.assertEqual(await ws.recv(), "compressible " * 1000)

    async def test_subprotocol_is_negotiated_end_to_end(self):
        async with EchoUpstream(subprotocols=["chat.v2"]) as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            async with websockets.connect(proxy.url(), subprotocols=["chat.v1", "chat.v2"]) as ws:
                self.assertEqual(ws.subprotocol, "chat.v2")
                await ws.send("hi")
                self.assertEqual(await ws.recv(), "hi")
            offered = upstream.requests[0][1].get("Sec-WebSocket-Protocol")
            self.assertEqual(offered, "chat.v1, chat.v2")

    async def test_client_close_code_and_reason_reach_the_upstream(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            async with websockets.connect(proxy.url()) as ws:
                await ws.send("bye soon")
                await ws.recv()
                await ws.close(code=4001, reason="client is done")
            await harness.async_wait_until(lambda: upstream.closes, 10, "the upstream to see the close")
            self.assertEqual(upstream.closes[0], (4001, "client is done"))
            entry = await proxy.wait_access_log(lambda e: e["status"] == 101)
            self.assertIn(entry["closed_by"], ("client", "upstream"))

    async def test_upstream_close_code_and_reason_reach_the_client(self):
        async def close_at_once(ws):
            await ws.close(code=4002, reason="server says bye")

        async with EchoUpstream(on_connect=close_at_once) as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            async with websockets.connect(proxy.url()) as ws:
                with self.assertRaises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                self.assertEqual(ws.close_code, 4002)
                self.assertEqual(ws.close_reason, "server says bye")
            entry = await proxy.wait_access_log(lambda e: e["status"] == 101)
            self.assertEqual(entry["closed_by"], "upstream")

    async def test_connection_ends_when_the_upstream_closes_after_the_close_handshake(self):
        # Close frames have gone both ways, so nothing more can be relayed:
        # when the upstream closes TCP the proxy closes the client too and
        # the connection ends, without waiting for the client's own FIN
        # (the 10 s half-close drain, which this test never reaches).
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port())
            try:
                writer.write(harness.upgrade_request("/"))
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
                writer.write(bytes([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2]))  # masked close 1000
                close = await asyncio.wait_for(reader.readexactly(4), 10)
                self.assertEqual(close, bytes([0x88, 0x02, 0x03, 0xE8]))
                self.assertEqual(await asyncio.wait_for(reader.read(), 10), b"")  # the proxy closed
                entry = await proxy.wait_access_log(lambda e: e["status"] == 101, timeout=8)
                self.assertEqual((entry["closed_by"], entry["reason"]), ("upstream", "end of stream"))
            finally:
                writer.close()

    async def test_client_ping_is_answered(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            async with websockets.connect(proxy.url(), ping_interval=None) as ws:
                pong = await ws.ping(b"are you there")
                await asyncio.wait_for(pong, 10)

    async def test_forwarded_headers_are_set_and_hop_by_hop_headers_dropped(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "spoofed",
                       "Keep-Alive": "timeout=5", "X-Private-Hop": "secret", "X-App": "kept",
                       "Proxy-Authorization": "Basic Zm9vOmJhcg=="}
            # Connection names X-Private-Hop: a hop-by-hop field for this hop only.
            async with websockets.connect(proxy.url("/chat?room=1"), extra_headers=headers) as ws:
                await ws.send("x")
                await ws.recv()
            path, seen = upstream.requests[0]
            self.assertEqual(path, "/chat?room=1")
            self.assertEqual(seen["X-Forwarded-For"], "203.0.113.7, 127.0.0.1")
            self.assertEqual(seen["X-Forwarded-Proto"], "http")
            self.assertEqual(seen["X-Forwarded-Host"], f"127.0.0.1:{proxy.port()}")
            self.assertEqual(seen["Host"], f"127.0.0.1:{proxy.port()}")
            self.assertEqual(seen["X-App"], "kept")
            self.assertNotIn("Keep-Alive", seen)
            self.assertNotIn("Proxy-Authorization", seen)
            self.assertEqual(seen.get_all("X-Forwarded-Proto"), ["http"])

    async def test_connection_named_headers_are_not_forwarded(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            request = harness.upgrade_request(extra=["X-Private-Hop: secret"]).replace(
                b"Connection: Upgrade", b"Connection: Upgrade, X-Private-Hop")
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port())
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            self.assertEqual(harness.status_of(head), 101)
            self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head)
            writer.close()
            self.assertNotIn("X-Private-Hop", upstream.requests[0][1])

    async def test_routes_pick_clusters_by_path_prefix(self):
        async with EchoUpstream() as chat, EchoUpstream() as feed:
            config = (listener(routes=[("/chat", "chat"), ("/feed", "feed")]) +
                      cluster("chat", chat.port) + cluster("feed", feed.port))
            proxy = self.start_proxy(config)
            await harness.echo_roundtrip(proxy.url("/chat/room"))
            await harness.echo_roundtrip(proxy.url("/feed"))
            await harness.echo_roundtrip(proxy.url("/feed/prices"))
            self.assertEqual([p for p, _ in chat.requests], ["/chat/room"])
            self.assertEqual([p for p, _ in feed.requests], ["/feed", "/feed/prices"])

    async def test_endpoints_are_used_in_turn(self):
        async with EchoUpstream() as a, EchoUpstream() as b:
            proxy = self.start_proxy(listener() + cluster(ports=[a.port, b.port]))
            for _ in range(4):
                await harness.echo_roundtrip(proxy.url())
            self.assertEqual((len(a.requests), len(b.requests)), (2, 2))

    async def test_access_log_has_one_json_line_per_connection(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            async with websockets.connect(proxy.url("/logged?token=secret"), compression=None) as ws:
                await ws.send("12345")
                await ws.recv()
            entry = await proxy.wait_access_log(lambda e: e["path"] == "/logged")
            self.assertEqual(entry["listener"], "public")
            self.assertEqual(entry["cluster"], "echo")
            self.assertEqual(entry["upstream"], f"127.0.0.1:{upstream.port}")
            self.assertEqual(entry["status"], 101)
            self.assertRegex(entry["client"], r"^127\.0\.0\.1:\d+$")
            self.assertGreater(entry["bytes_from_client"], 5)
            self.assertGreater(entry["bytes_to_client"], 5)
            self.assertGreaterEqual(entry["duration_ms"], 0)
            for field in ("time", "closed_by", "reason", "method"):
                self.assertIn(field, entry)
            self.assertNotIn("secret", open(proxy.access_log_path).read())


class TimeoutTest(ProxyTestCase):
    async def test_idle_connection_is_closed_at_the_idle_timeout(self):
        async with EchoUpstream() as upstream:
            timeouts = "  timeouts { idle_timeout { seconds: 1 } }\n"
            proxy = self.start_proxy(listener(extra=timeouts) + cluster(port=upstream.port))
            async with websockets.connect(proxy.url(), ping_interval=None) as ws:
                started = time.monotonic()
                with self.assertRaises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 20)
                self.assertGreaterEqual(time.monotonic() - started, 0.9)
            entry = await proxy.wait_access_log(lambda e: e["status"] == 101)
            self.assertEqual(entry["closed_by"], "proxy")
            self.assertIn("idle", entry["reason"])

    async def test_traffic_keeps_a_connection_open_past_the_idle_timeout(self):
        async with EchoUpstream() as upstream:
            timeouts = "  timeouts { idle_timeout { seconds: 2 } }\n"
            proxy = self.start_proxy(listener(extra=timeouts) + cluster(port=upstream.port))
            async with websockets.connect(proxy.url(), ping_interval=None) as ws:
                # Five seconds of traffic, a message every 0.25 s: there is
                # no limit on a connection's total duration.
                for i in range(20):
                    await ws.send(str(i))
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 10), str(i))
                    await asyncio.sleep(0.25)

    async def test_silent_client_is_closed_at_the_handshake_timeout(self):
        async with EchoUpstream() as upstream:
            timeouts = "  timeouts { handshake_timeout { seconds: 1 } }\n"
            proxy = self.start_proxy(listener(extra=timeouts) + cluster(port=upstream.port))
            started = time.monotonic()
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port())
            data = await asyncio.wait_for(reader.read(), 20)
            writer.close()
            self.assertEqual(data, b"")
            self.assertGreaterEqual(time.monotonic() - started, 0.9)
            entry = await proxy.wait_access_log(lambda e: "no request" in e["reason"])
            self.assertEqual(entry["status"], 0)

    async def test_partial_request_gets_408_at_the_handshake_timeout(self):
        async with EchoUpstream() as upstream:
            timeouts = "  timeouts { handshake_timeout { seconds: 1 } }\n"
            proxy = self.start_proxy(listener(extra=timeouts) + cluster(port=upstream.port))
            response = await harness.raw_exchange(proxy.port(), b"GET / HTTP/1.1\r\nHost: x\r\n", timeout=20)
            self.assertEqual(harness.status_of(response), 408)


class RejectionTest(ProxyTestCase):
    async def asyncSetUp(self):
        self.upstream = await EchoUpstream().__aenter__()
        self.proxy = self.start_proxy(listener(routes=[("/ws", "echo")]) + cluster(port=self.upstream.port))

    async def asyncTearDown(self):
        await self.upstream.__aexit__(None, None, None)

    async def exchange(self, data):
        return await harness.raw_exchange(self.proxy.port(), data)

    async def assert_still_serving(self):
        self.assertEqual(await harness.echo_roundtrip(self.proxy.url("/ws")), "still alive")

    async def test_plain_http_request_gets_426(self):
        response = await self.exchange(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(harness.status_of(response), 426)
        self.assertIn(b"\r\nSec-WebSocket-Version: 13\r\n", response)
        self.assertIn(b"\r\nUpgrade: websocket\r\n", response)
        self.assertNotIn(b"Server:", response)
        await self.assert_still_serving()

    async def test_unknown_path_gets_404(self):
        response = await self.exchange(harness.upgrade_request("/nowhere"))
        self.assertEqual(harness.status_of(response), 404)
        self.assertIn(b"no route", response)
        self.assertIn("-> 404", self.proxy.log())
        entry = await self.proxy.wait_access_log(lambda e: e["status"] == 404)
        self.assertEqual(entry["path"], "/nowhere")
        await self.assert_still_serving()

    async def test_wrong_websocket_version_gets_426(self):
        response = await self.exchange(harness.upgrade_request("/ws", version="8"))
        self.assertEqual(harness.status_of(response), 426)
        self.assertIn(b"\r\nSec-WebSocket-Version: 13\r\n", response)

    async def test_invalid_upgrade_requests_get_400(self):
        cases = {
            "missing key": harness.upgrade_request("/ws").replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""),
            "malformed key": harness.upgrade_request("/ws", key="not-base64"),
            "duplicate key": harness.upgrade_request("/ws", extra=["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]),
            "POST": harness.upgrade_request("/ws").replace(b"GET", b"POST", 1),
            "HTTP/1.0": harness.upgrade_request("/ws").replace(b"HTTP/1.1", b"HTTP/1.0", 1),
            "no Connection upgrade": harness.upgrade_request("/ws").replace(b"Connection: Upgrade", b"Connection: close"),
            "no Host": harness.upgrade_request("/ws").replace(b"Host: example.test\r\n", b""),
            "body": harness.upgrade_request("/ws", extra=["Content-Length: 5"]),
            "chunked": harness.upgrade_request("/ws", extra=["Transfer-Encoding: chunked"]),
            "dot segment": harness.upgrade_request("/ws/../admin"),
            "encoded dot segment": harness.upgrade_request("/ws/%2e%2E/admin"),
            "non-ASCII path": harness.upgrade_request("/ws/caf\xe9".encode("latin-1").decode("latin-1")).replace(
                b"caf\xc3\xa9", b"caf\xe9"),
            "malformed request line": b"GET /ws\r\nHost: x\r\n\r\n",
            "bare LF": harness.upgrade_request("/ws").replace(b"\r\nHost", b"\nHost"),
            "NUL in a value": harness.upgrade_request("/ws", extra=["X-Bad: a\x00b"]),
            "folded header": harness.upgrade_request("/ws", extra=["X-Folded: a", " continued"]),
            "space before colon": harness.upgrade_request("/ws", extra=["X-Bad : value"]),
        }
        for name, request in cases.items():
            with self.subTest(name):
                response = await self.exchange(request)
                self.assertEqual(harness.status_of(response), 400, response)
        self.assertEqual(len(self.upstream.requests), 0)
        await self.assert_still_serving()

    async def test_oversized_headers_get_431(self):
        response = await self.exchange(harness.upgrade_request("/ws", extra=["X-Big: " + "a" * 20000]))
        self.assertEqual(harness.status_of(response), 431)
        many = [f"X-H{i}: v" for i in range(150)]
        response = await self.exchange(harness.upgrade_request("/ws", extra=many))
        self.assertEqual(harness.status_of(response), 431)
        await self.assert_still_serving()


class UpstreamFailureTest(ProxyTestCase):
    async def test_upstream_down_gives_502_within_a_second(self):
        proxy = self.start_proxy(listener() + cluster(port=harness.closed_port()))
        started = time.monotonic()
        response = await harness.raw_exchange(proxy.port(), harness.upgrade_request())
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(harness.status_of(response), 502)
        self.assertIn(b"cannot connect to upstream", response)
        self.assertRegex(proxy.log(), r"-> 502: cannot connect to upstream 127\.0\.0\.1:\d+")

    async def test_cluster_without_endpoints_gives_503(self):
        proxy = self.start_proxy(listener() + cluster(ports=[]))
        response = await harness.raw_exchange(proxy.port(), harness.upgrade_request())
        self.assertEqual(harness.status_of(response), 503)

    async def test_upstream_that_never_answers_gives_504(self):
        async with harness.SilentUpstream() as silent:
            config = listener() + cluster(port=silent.port, extra="  connect_timeout { seconds: 1 }\n")
            proxy = self.start_proxy(config)
            started = time.monotonic()
            response = await harness.raw_exchange(proxy.port(), harness.upgrade_request(), timeout=20)
            self.assertEqual(harness.status_of(response), 504)
            self.assertGreaterEqual(time.monotonic() - started, 0.9)
            self.assertIn("-> 504", proxy.log())

    async def test_upstream_refusing_the_upgrade_gives_502(self):
        answers = {
            "403": b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
            "garbage": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
            "no accept": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "wrong accept": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"),
            "unoffered subprotocol": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                      b"Sec-WebSocket-Protocol: surprise\r\n\r\n"),
            "closed": b"",
        }
        for name, answer in answers.items():
            with self.subTest(name):
                async with harness.SilentUpstream(answer=answer) as upstream:
                    proxy = Proxy(listener() + cluster(port=upstream.port))
                    try:
                        response = await harness.raw_exchange(proxy.port(), harness.upgrade_request())
                        self.assertEqual(harness.status_of(response), 502, response)
                    finally:
                        self.assertEqual(proxy.stop(), 0)

    async def test_upstream_bytes_and_close_arriving_together_reach_the_client(self):
        # Once relaying, a frame and the FIN in one burst: the proxy must pass
        # on the frame and then the end of stream, not wait for more.
        frame = b"\x81\x05hello"
        answer = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
        async with harness.SilentUpstream(answer=answer, then=frame) as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port())
            writer.write(harness.upgrade_request())
            received = await asyncio.wait_for(reader.read(), 10)  # until the proxy closes
            writer.close()
            self.assertTrue(received.startswith(b"HTTP/1.1 101 "), received)
            self.assertTrue(received.endswith(frame), received)

    async def test_connection_limit_answers_503_and_spares_open_connections(self):
        async with EchoUpstream() as upstream:
            limits = "  limits { max_connections: 2 }\n"
            proxy = self.start_proxy(listener(extra=limits) + cluster(port=upstream.port))
            async with websockets.connect(proxy.url()) as first, websockets.connect(proxy.url()) as second:
                response = await harness.raw_exchange(proxy.port(), harness.upgrade_request())
                self.assertEqual(harness.status_of(response), 503)
                for ws in (first, second):
                    await ws.send("still here")
                    self.assertEqual(await ws.recv(), "still here")
            # Once they are closed, there is room again.
            await harness.async_wait_until(
                lambda: sum(1 for e in proxy.access_log() if e["status"] == 101) == 2, 10, "both to close")
            self.assertEqual(await harness.echo_roundtrip(proxy.url()), "still alive")


class RelayOnEpollTest(RelayTest):
    """Every relay case again with --io_uring=false: epoll for every socket."""
    proxy_args = ("--io_uring=false",)
    backend = "epoll"


if __name__ == "__main__":
    harness.main()
