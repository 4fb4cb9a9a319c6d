#!/usr/bin/python3
"""wss:// on both legs: TLS termination for clients (1.2 and 1.3, a test CA
the test makes itself), verified TLS towards upstreams, and the failures:
a wrong CA, a wrong name, TLS garbage and plain HTTP on a TLS port."""

import asyncio
import os
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EchoUpstream, Proxy, certs, cluster, listener  # noqa: E402
import websockets  # noqa: E402


class TlsTestCase(unittest.IsolatedAsyncioTestCase):
    def start_proxy(self, config):
        proxy = Proxy(config)
        self.addCleanup(lambda: self.assertEqual(proxy.stop(), 0, proxy.log()))
        return proxy

    def tls_listener(self, extra_tls="", **kwargs):
        c = certs()
        return listener(tls=(c.server_cert, c.server_key, extra_tls), **kwargs)


class DownstreamTlsTest(TlsTestCase):
    async def test_wss_client_trusting_the_test_ca_relays_messages(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(self.tls_listener() + cluster(port=upstream.port))
            ctx = certs().client_context()
            async with websockets.connect(proxy.url("/secure", scheme="wss"), ssl=ctx, max_size=None) as ws:
                for payload in ("hello", b"\x00\xff" * 40000, "z" * (1 << 20)):
                    await ws.send(payload)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 20), payload)
            self.assertEqual(upstream.requests[0][1]["X-Forwarded-Proto"], "https")

    async def test_tls_1_2_and_1_3_clients_are_accepted(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(self.tls_listener() + cluster(port=upstream.port))
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(version.name):
                    ctx = certs().client_context(minimum_version=version, maximum_version=version)
                    async with websockets.connect(proxy.url(scheme="wss"), ssl=ctx) as ws:
                        self.assertEqual(ws.transport.get_extra_info("ssl_object").version(),
                                         version.name.replace("_", "."))
                        await ws.send("v")
                        self.assertEqual(await ws.recv(), "v")

    async def test_min_version_1_3_refuses_a_1_2_client(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(self.tls_listener("min_version: TLS_VERSION_1_3") + cluster(port=upstream.port))
            ctx = certs().client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                await websockets.connect(proxy.url(scheme="wss"), ssl=ctx, open_timeout=10)
            await harness.async_wait_until(lambda: "TLS handshake failed" in proxy.log(), 10, "the log line")
            ctx13 = certs().client_context()
            self.assertEqual(await harness.echo_roundtrip(proxy.url(scheme="wss"), ssl=ctx13), "still alive")

    async def test_openssl_s_client_sees_the_certificate_and_tls_1_3(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(self.tls_listener() + cluster(port=upstream.port))
            result = await asyncio.to_thread(
                subprocess.run,
                ["/usr/bin/openssl", "s_client", "-connect", f"127.0.0.1:{proxy.port()}", "-servername",
                 "localhost", "-CAfile", certs().ca_cert, "-verify_return_error", "-brief"],
                input=b"", capture_output=True, timeout=30)
            output = (result.stdout + result.stderr).decode()
            self.assertIn("Protocol version: TLSv1.3", output)
            self.assertIn("Verification: OK", output)

    async def test_plain_http_and_garbage_on_a_tls_port_are_refused_and_counted_in_the_log(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(self.tls_listener() + cluster(port=upstream.port))
            for garbage in (harness.upgrade_request(), b"\x16\x03\x01\x00\x05hello" + b"\x00" * 100):
                response = await harness.raw_exchange(proxy.port(), garbage)
                self.assertNotIn(b"HTTP/1.1 101", response)
            await harness.async_wait_until(lambda: proxy.log().count("TLS handshake failed") >= 2, 10,
                                           "two handshake failures in the log")
            ctx = certs().client_context()
            self.assertEqual(await harness.echo_roundtrip(proxy.url(scheme="wss"), ssl=ctx), "still alive")


class UpstreamTlsTest(TlsTestCase):
    async def test_wss_upstream_verified_against_the_ca(self):
        async with EchoUpstream(ssl_context=certs().server_context()) as upstream:
            tls = f'ca_file: "{certs().ca_cert}"'
            proxy = self.start_proxy(listener() + cluster(port=upstream.port, tls=tls))
            self.assertEqual(await harness.echo_roundtrip(proxy.url()), "still alive")

    async def test_wss_upstream_with_sni_name_verified(self):
        async with EchoUpstream(ssl_context=certs().server_context()) as upstream:
            tls = f'ca_file: "{certs().ca_cert}" sni: "localhost"'
            proxy = self.start_proxy(listener() + cluster(port=upstream.port, tls=tls))
            self.assertEqual(await harness.echo_roundtrip(proxy.url()), "still alive")

    async def test_wss_upstream_with_a_wrong_ca_is_refused_with_502(self):
        async with EchoUpstream(ssl_context=certs().server_context()) as upstream:
            tls = f'ca_file: "{certs().other_ca_cert}"'
            proxy = self.start_proxy(listener() + cluster(port=upstream.port, tls=tls))
            response = await harness.raw_exchange(proxy.port(), harness.upgrade_request())
            self.assertEqual(harness.status_of(response), 502)
            self.assertIn(b"TLS handshake with upstream", response)
            self.assertIn("certificate verify failed", proxy.log())
            self.assertEqual(upstream.requests, [])

    async def test_wss_upstream_with_a_wrong_name_is_refused_with_502(self):
        async with EchoUpstream(ssl_context=certs().server_context()) as upstream:
            tls = f'ca_file: "{certs().ca_cert}" sni: "chat.example.com"'
            proxy = self.start_proxy(listener() + cluster(port=upstream.port, tls=tls))
            response = await harness.raw_exchange(proxy.port(), harness.upgrade_request())
            self.assertEqual(harness.status_of(response), 502)
            self.assertIn("hostname mismatch", proxy.log())

    async def test_wss_on_both_legs(self):
        async with EchoUpstream(ssl_context=certs().server_context()) as upstream:
            tls = f'ca_file: "{certs().ca_cert}"'
            proxy = self.start_proxy(self.tls_listener() + cluster(port=upstream.port, tls=tls))
            ctx = certs().client_context()
            async with websockets.connect(proxy.url(scheme="wss"), ssl=ctx, max_size=None) as ws:
                for i in range(50):
                    payload = os.urandom(1000 * i)
                    await ws.send(payload)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 20), payload)


if __name__ == "__main__":
    harness.main()
