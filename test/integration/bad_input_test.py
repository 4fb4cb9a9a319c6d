#!/usr/bin/python3
"""The bad-input matrix: every kind of broken client or upstream input,
each asserting the exact answer (status, or a closed connection), a log
line, a stats count, and that a well-behaved WebSocket opened before it
still exchanges messages after it."""

import asyncio
import os
import re
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from admin_client import Admin  # noqa: E402
from harness import EchoUpstream, Proxy, SilentUpstream, certs, cluster, listener, upgrade_request  # noqa: E402
import websockets  # noqa: E402

ACCEPT_HEADERS = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
GOOD_ACCEPT = b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"


class BadInputTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        c = certs()
        expired = c.issue_expired("expired", ["DNS:localhost", "IP:127.0.0.1"])
        wrong_host = c.issue("wronghost", "elsewhere.test", ["DNS:elsewhere.test"])
        tls = lambda pair: (lambda ctx: (ctx.load_cert_chain(*pair), ctx)[1])(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
        self.upstreams = {
            "echo": EchoUpstream(),
            "garbage": SilentUpstream(answer=b"SSH-2.0-OpenSSH_9.2\r\n\r\n"),
            "noaccept": SilentUpstream(answer=ACCEPT_HEADERS + b"\r\n"),
            "wrongaccept": SilentUpstream(answer=ACCEPT_HEADERS + b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"),
            "midmessage": SilentUpstream(answer=ACCEPT_HEADERS + GOOD_ACCEPT + b"\r\n", then=b"\x82\x7e\x10\x00half"),
            "slow": SilentUpstream(),
            "expired": SilentUpstream(ssl_context=tls(expired)),
            "wronghost": SilentUpstream(ssl_context=tls(wrong_host)),
        }
        for upstream in self.upstreams.values():
            await upstream.__aenter__()
        u = self.upstreams
        routes = [("/garbage", "garbage"), ("/noaccept", "noaccept"), ("/wrongaccept", "wrongaccept"),
                  ("/midmessage", "midmessage"), ("/slow", "slow"), ("/expired", "expired"),
                  ("/wronghost", "wronghost"), ("/", "echo")]
        short = "  timeouts { handshake_timeout { seconds: 2 } }\n"
        verify = f'ca_file: "{c.ca_cert}"'
        config = (listener("plain", routes=routes, extra=short) +
                  listener("secure", tls=(c.server_cert, c.server_key), extra=short) +
                  listener("small", extra="  limits { max_connections: 3 }\n") +
                  listener("limited", extra="  limits { max_message_bytes: 1000 }\n") +
                  "".join(cluster(name, port=u[name].port) for name in ("echo", "garbage", "noaccept", "wrongaccept",
                                                                        "midmessage")) +
                  cluster("slow", port=u["slow"].port, extra="  connect_timeout { seconds: 1 }\n") +
                  cluster("expired", port=u["expired"].port, tls=verify) +
                  cluster("wronghost", port=u["wronghost"].port, tls=verify + ' sni: "localhost"'))
        self.proxy = Proxy(config)
        self.admin = Admin(self.proxy.admin_port)
        # The well-behaved connection that must survive every case.
        self.good = await websockets.connect(self.proxy.url("/chat", listener="plain"), ping_interval=None)

    async def asyncTearDown(self):
        await self.good.close()
        self.admin.close()
        self.assertEqual(self.proxy.stop(), 0, self.proxy.log())
        for upstream in self.upstreams.values():
            await upstream.__aexit__(None, None, None)

    async def still_good(self):
        message = f"still here {time.monotonic()}"
        await self.good.send(message)
        self.assertEqual(await asyncio.wait_for(self.good.recv(), 10), message)

    async def stat(self, name):
        values, _ = await asyncio.to_thread(self.admin.stats, "^" + re.escape(name) + "$")
        return values.get(name, 0)

    async def check(self, name, send, expect_status, log_pattern, stat, listener_name="plain", tls=False):
        with self.subTest(name):
            before = await self.stat(stat)
            if callable(send):
                response = await send()
            else:
                ctx = certs().client_context() if tls else None
                response = await harness.raw_exchange(self.proxy.port(listener_name), send, timeout=20,
                                                      ssl_context=ctx)
            if expect_status is None:
                self.assertFalse(response.startswith(b"HTTP/"), response[:200])
            else:
                self.assertEqual(harness.status_of(response), expect_status, response[:300])
            await harness.async_wait_until(lambda: re.search(log_pattern, self.proxy.log()), 10,
                                           f"a log line matching {log_pattern!r}")
            await harness.async_wait_until_async(lambda: self._grew(stat, before), 10, f"{stat} to grow")
            await self.still_good()
            return response

    async def _grew(self, stat, before):
        return await self.stat(stat) > before

    async def test_bad_requests(self):
        p = "listener.plain."
        cases = [
            ("malformed request line", b"GARBAGE\r\n\r\n", 400, r"-> 400: the request line", p + "downstream_rq_400"),
            ("HTTP/1.0 upgrade", upgrade_request().replace(b"HTTP/1.1", b"HTTP/1.0", 1), 400, r"needs HTTP/1\.1",
             p + "downstream_rq_400"),
            ("missing key", upgrade_request().replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""), 400,
             r"Sec-WebSocket-Key header is missing", p + "downstream_rq_400"),
            ("duplicate key", upgrade_request(extra=["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]), 400,
             r"appears more than once", p + "downstream_rq_400"),
            ("malformed key", upgrade_request(key="%%%"), 400, r"base64-encoded 16-byte", p + "downstream_rq_400"),
            ("wrong version", upgrade_request(version="12"), 426, r"-> 426: only WebSocket version 13",
             p + "downstream_rq_426"),
            ("100 KB header", upgrade_request(extra=["X-Big: " + "b" * 100_000]), 431, r"-> 431",
             p + "downstream_rq_431"),
            ("10,000 header lines", upgrade_request(extra=[f"X-{i}: v" for i in range(10_000)]), 431, r"-> 431",
             p + "downstream_rq_431"),
            ("Transfer-Encoding", upgrade_request(extra=["Transfer-Encoding: chunked"]), 400,
             r"cannot have Transfer-Encoding", p + "downstream_rq_400"),
            ("Content-Length", upgrade_request(extra=["Content-Length: 10"]), 400, r"cannot have a body",
             p + "downstream_rq_400"),
            ("CR in a value", upgrade_request(extra=["X-Bad: a\rb"]), 400, r"bare CR or LF", p + "downstream_rq_400"),
            ("NUL in a value", upgrade_request(extra=["X-Bad: a\x00b"]), 400, r"control character",
             p + "downstream_rq_400"),
            ("path with invalid UTF-8", upgrade_request("/caf\udce9".encode("utf-8", "surrogateescape").decode(
                "latin-1")).replace(b"caf\xc3\xa9", b"caf\xe9"), 400, r"printable ASCII", p + "downstream_rq_400"),
            ("path with ..", upgrade_request("/a/../admin"), 400, r"segment", p + "downstream_rq_400"),
        ]
        for name, data, status, log, stat in cases:
            response = await self.check(name, data, status, log, stat)
            if name == "wrong version":
                self.assertIn(b"\r\nSec-WebSocket-Version: 13\r\n", response)

    async def test_slowloris_is_answered_408_at_the_handshake_timeout(self):
        async def slowloris():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.proxy.port("plain"))
            started = time.monotonic()
            received = b""
            try:
                for byte in upgrade_request():
                    writer.write(bytes([byte]))
                    await writer.drain()
                    # read(n), not read(): a read() cut off by the timeout
                    # would drop what it had gathered.
                    try:
                        chunk = await asyncio.wait_for(reader.read(65536), 1.0)
                    except asyncio.TimeoutError:
                        continue
                    # The answer has begun: take the rest until the proxy closes.
                    while chunk:
                        received += chunk
                        chunk = await asyncio.wait_for(reader.read(65536), 10)
                    break
            except ConnectionError:
                pass
            writer.close()
            self.assertLess(time.monotonic() - started, 10)
            return received

        await self.check("slowloris", slowloris, 408, r"-> 408: the request did not arrive within 2 s",
                         "listener.plain.downstream_cx_handshake_timeout")

    async def test_tls_port_refusals(self):
        p = "listener.secure."
        await self.check("plain HTTP on a TLS port", upgrade_request(), None, r"TLS handshake failed",
                         p + "downstream_cx_tls_handshake_error", listener_name="secure")
        await self.check("TLS garbage", b"\x16\x03\x01\x02\x00" + os.urandom(512), None, r"TLS handshake failed",
                         p + "downstream_cx_tls_handshake_error", listener_name="secure")

        async def never_finishes():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.proxy.port("secure"))
            writer.write(b"\x16\x03\x01")  # the start of a record, then nothing
            data = await asyncio.wait_for(reader.read(), 20)
            writer.close()
            return data

        await self.check("a TLS handshake that never finishes", never_finishes, None, r"listening",
                         p + "downstream_cx_handshake_timeout")
        entry = await self.proxy.wait_access_log(lambda e: "no TLS handshake" in e["reason"])
        self.assertEqual(entry["closed_by"], "proxy")

    async def test_forged_tls_record_after_the_upgrade(self):
        # After the handshake wsproxy checks TLS 1.3 records itself: a record
        # that fails authentication ends that connection with a
        # bad_record_mac alert, and nothing else.
        def forge():
            raw = socket.create_connection(("127.0.0.1", self.proxy.port("secure")), timeout=20)
            with certs().client_context().wrap_socket(raw, server_hostname="localhost") as tls:
                self.assertEqual(tls.version(), "TLSv1.3")
                tls.sendall(upgrade_request())
                head = b""
                while b"\r\n\r\n" not in head:
                    head += tls.recv(4096)
                self.assertEqual(harness.status_of(head), 101, head)
                # Straight onto the socket, past the client's TLS: an
                # application-data record whose tag cannot be right.
                with socket.socket(fileno=os.dup(tls.fileno())) as under:
                    under.sendall(b"\x17\x03\x03\x00\x28" + os.urandom(40))
                with self.assertRaisesRegex(ssl.SSLError, "BAD_RECORD_MAC"):
                    while tls.recv(4096):
                        pass

        stat = "listener.secure.downstream_cx_closed_by_client"
        before = await self.stat(stat)
        await asyncio.to_thread(forge)
        entry = await self.proxy.wait_access_log(lambda e: e["reason"] == "TLS: bad record mac")
        self.assertEqual((entry["closed_by"], entry["status"]), ("client", 101))
        await harness.async_wait_until_async(lambda: self._grew(stat, before), 10, f"{stat} to grow")
        await self.still_good()

    async def test_connection_flood_past_the_limit(self):
        held = [await websockets.connect(self.proxy.url("/", listener="small")) for _ in range(3)]
        await self.check("flood past max_connections", upgrade_request(), 503, r"-> 503: too many connections",
                         "listener.small.downstream_cx_overflow", listener_name="small")
        for ws in held:
            await ws.send("unharmed")
            self.assertEqual(await ws.recv(), "unharmed")
            await ws.close()

    async def test_bad_upstreams(self):
        c = "cluster."
        cases = [
            ("garbage instead of 101", "/garbage", 502, r"sent an invalid response", c + "garbage.upstream_handshake_rejected"),
            ("101 without Sec-WebSocket-Accept", "/noaccept", 502, r"no single Sec-WebSocket-Accept",
             c + "noaccept.upstream_handshake_rejected"),
            ("101 with a wrong Sec-WebSocket-Accept", "/wrongaccept", 502, r"does not match the key",
             c + "wrongaccept.upstream_handshake_rejected"),
            ("an expired certificate", "/expired", 502, r"certificate has expired", c + "expired.upstream_cx_tls_error"),
            ("a certificate for another host", "/wronghost", 502, r"hostname mismatch",
             c + "wronghost.upstream_cx_tls_error"),
            ("an upstream too slow to answer", "/slow", 504, r"-> 504: upstream .* did not complete",
             c + "slow.upstream_cx_connect_timeout"),
        ]
        for name, path, status, log, stat in cases:
            await self.check(name, upgrade_request(path), status, log, stat)

    async def test_messages_past_the_size_limit_end_the_websocket_with_1009(self):
        for name, url, message in [
            ("one frame", self.proxy.url("/", listener="limited"), b"x" * 1001),
            ("fragments", self.proxy.url("/", listener="limited"), iter([b"a" * 600, b"b" * 600])),
            ("the 16 MiB default", self.proxy.url("/", listener="plain"), b"d" * (16 * 1024 * 1024 + 1)),
            # Large frames between plain sockets are spliced: the limit still
            # holds across them.
            ("spliced fragments", self.proxy.url("/", listener="plain"), iter([b"s" * (10 << 20), b"t" * (7 << 20)])),
        ]:
            with self.subTest(name):
                before = await self.stat("listener.plain.downstream_message_too_big") + \
                    await self.stat("listener.limited.downstream_message_too_big")
                closes_before = len(self.upstreams["echo"].closes)
                # Uncompressed, so the frames on the wire are as big as the messages.
                async with websockets.connect(url, ping_interval=None, max_size=None, compression=None) as ws:
                    fits = b"f" * 1000
                    await ws.send(fits)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 10), fits)
                    try:
                        await ws.send(message)
                    except (websockets.InvalidState, websockets.ConnectionClosed):
                        pass  # the 1009 came before the last fragment was sent
                    with self.assertRaises(websockets.ConnectionClosedError) as closed:
                        await asyncio.wait_for(ws.recv(), 20)
                    self.assertEqual(closed.exception.rcvd.code, 1009)
                    self.assertEqual(closed.exception.rcvd.reason, "message too big")
                await harness.async_wait_until(lambda: len(self.upstreams["echo"].closes) > closes_before, 10,
                                               "the upstream's connection to end")
                self.assertEqual(self.upstreams["echo"].closes[-1][0], 1009)
                await harness.async_wait_until(lambda: "passed max_message_bytes" in self.proxy.log(), 10,
                                               "the log line")
                after = await self.stat("listener.plain.downstream_message_too_big") + \
                    await self.stat("listener.limited.downstream_message_too_big")
                self.assertEqual(after, before + 1)
                await self.still_good()

    async def test_upstream_closing_mid_message(self):
        async def mid_message():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.proxy.port("plain"))
            writer.write(upgrade_request("/midmessage"))
            data = await asyncio.wait_for(reader.read(), 20)  # the 101, half a frame, then the close
            writer.close()
            return data

        response = await self.check("upstream closing mid-message", mid_message, 101,
                                    r"listening", "listener.plain.downstream_cx_closed_by_upstream")
        self.assertTrue(response.endswith(b"\x82\x7e\x10\x00half"), response)
        entry = await self.proxy.wait_access_log(lambda e: e["path"] == "/midmessage")
        self.assertEqual(entry["closed_by"], "upstream")


if __name__ == "__main__":
    harness.main()
