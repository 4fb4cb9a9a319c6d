#!/usr/bin/python3
"""Filters and filter chains against the real binary, each driven by its
example in examples/: origin (403), rate_limit (429 + Retry-After),
header_rewrite (what the upstream and the client see), chains chosen by
path and by server name, TLS per chain (SNI certificates, mutual TLS,
forwarded client certificate, ALPN, ciphers), and config errors."""

import asyncio
import os
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EchoUpstream, Proxy, certs, cluster, example, listener, run_wsproxy  # noqa: E402
import websockets  # noqa: E402


class FilterTestCase(unittest.IsolatedAsyncioTestCase):
    def start_proxy(self, config):
        proxy = Proxy(config)
        self.addCleanup(lambda: self.assertEqual(proxy.stop(), 0, proxy.log()))
        return proxy

    async def status(self, proxy, request, listener_name=None, ssl_context=None):
        port = proxy.port(listener_name) if listener_name else next(iter(proxy.ports.values()))
        response = await harness.raw_exchange(port, request, ssl_context=ssl_context)
        return harness.status_of(response), response


class OriginTest(FilterTestCase):
    async def asyncSetUp(self):
        self.upstream = await EchoUpstream().__aenter__()
        self.proxy = self.start_proxy(example("origin.textproto", {8080: 0, 9000: self.upstream.port}))
        self.url = self.proxy.url("/", listener="chat")

    async def asyncTearDown(self):
        await self.upstream.__aexit__(None, None, None)

    async def test_listed_and_wildcard_origins_are_allowed(self):
        for origin in ("https://chat.example.com", "https://eu.app.example.com", "HTTPS://CHAT.EXAMPLE.COM:443"):
            with self.subTest(origin):
                self.assertEqual(await harness.echo_roundtrip(self.url, origin=origin), "still alive")

    async def test_missing_origin_is_allowed_by_default(self):
        self.assertEqual(await harness.echo_roundtrip(self.url), "still alive")

    async def test_other_origins_get_403_and_are_logged(self):
        for origin, reason in (("https://evil.com", "not_allowed"), ("https://example.com", "not_allowed"),
                               ("http://chat.example.com", "not_allowed"), ("null", "null"),
                               ("https://chat.example.com/path", "malformed")):
            with self.subTest(origin):
                code, response = await self.status(self.proxy, harness.upgrade_request(extra=[f"Origin: {origin}"]))
                self.assertEqual(code, 403)
                self.assertIn(f'filter "origin" in chain "browsers" denied ({reason})', self.proxy.log())
        self.assertEqual(self.upstream.requests, [])
        self.assertEqual(await harness.echo_roundtrip(self.url, origin="https://chat.example.com"), "still alive")


class RateLimitTest(FilterTestCase):
    async def test_burst_then_429_with_retry_after(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(example("rate_limit.textproto", {8080: 0, 9000: upstream.port}))
            # The example allows 5 at once, then 1 a second: a fast sixth
            # is refused (unless a second has passed, when a seventh is).
            statuses = []
            for _ in range(7):
                code, response = await self.status(proxy, harness.upgrade_request())
                statuses.append(code)
                if code == 429:
                    self.assertRegex(response, rb"\r\nRetry-After: [1-9]\d*\r\n")
            self.assertEqual(statuses[:5], [101] * 5)
            self.assertIn(429, statuses[5:])
            self.assertIn('denied (rate)', proxy.log())

    async def test_open_connections_are_limited_and_released(self):
        async with EchoUpstream() as upstream:
            config = example("rate_limit.textproto", {8080: 0, 9000: upstream.port}).replace(
                "rate_per_second: 1 burst: 5", "rate_per_second: 100 burst: 100")
            proxy = self.start_proxy(config)
            url = proxy.url("/", listener="feed")
            held = [await websockets.connect(url) for _ in range(3)]
            code, response = await self.status(proxy, harness.upgrade_request())
            self.assertEqual(code, 429)
            self.assertIn(b"too many open connections", response)
            await held[0].close()
            # The slot comes back once the proxy has seen that close.
            await harness.async_wait_until(lambda: sum(1 for e in proxy.access_log() if e["status"] == 101) >= 1,
                                           10, "the first connection to end")
            self.assertEqual(await harness.echo_roundtrip(url), "still alive")
            for ws in held[1:]:
                await ws.close()


class HeaderRewriteTest(FilterTestCase):
    async def test_upstream_and_client_see_the_rewritten_headers(self):
        async with EchoUpstream() as upstream:
            proxy = self.start_proxy(example("header_rewrite.textproto", {8080: 0, 9000: upstream.port}))
            headers = {"Cookie": "session=secret", "User-Agent": "filters-test/1"}
            async with websockets.connect(proxy.url("/", listener="edge"), extra_headers=headers,
                                          user_agent_header=None) as ws:
                self.assertEqual(ws.response_headers["X-Served-By"], "wsproxy")
                await ws.send("x")
                await ws.recv()
                local_port = ws.transport.get_extra_info("sockname")[1]
            seen = upstream.requests[0][1]
            self.assertEqual(seen["X-Client-Address"], f"127.0.0.1:{local_port}")
            self.assertEqual(seen["X-Entry"], "edge/annotate")
            self.assertEqual(seen["X-Agent"], "filters-test/1")
            self.assertNotIn("Cookie", seen)

    async def test_crlf_in_a_literal_is_a_config_error(self):
        config = example("header_rewrite.textproto").replace('value: "wsproxy"', r'value: "wsproxy\r\nX-Evil: 1"')
        path = os.path.join(harness.tmpdir(), "bad.textproto")
        with open(path, "w") as f:
            f.write(config)
        result = run_wsproxy("--config", path, "--validate")
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr, r'bad.textproto:\d+:\d+: listeners\["edge"\]\.filter_chains\["annotate"\]'
                                        r'\.filters\["headers"\]\.typed_config\.response\[0\]\.set\.value: .*contains CR, LF or NUL')

    async def test_rewriting_an_upgrade_header_is_a_config_error(self):
        config = example("header_rewrite.textproto").replace('remove: "Cookie"', 'remove: "Sec-WebSocket-Key"')
        path = os.path.join(harness.tmpdir(), "bad.textproto")
        with open(path, "w") as f:
            f.write(config)
        result = run_wsproxy("--config", path, "--validate")
        self.assertEqual(result.returncode, 1)
        self.assertIn("is part of the WebSocket upgrade and cannot be rewritten", result.stderr)


class ChainTest(FilterTestCase):
    """examples/tls_chains.textproto: chains by server name and by path."""

    async def asyncSetUp(self):
        self.upstream = await EchoUpstream().__aenter__()
        self.proxy = self.start_proxy(example("tls_chains.textproto", {8443: 0, 9000: self.upstream.port}))
        self.port = self.proxy.port("secure")

    async def asyncTearDown(self):
        await self.upstream.__aexit__(None, None, None)

    def url(self, path="/"):
        return f"wss://127.0.0.1:{self.port}{path}"

    def partner_context(self, cert=True):
        c = certs()
        return c.client_context(cert=(c.alice_cert, c.alice_key) if cert else None)

    async def test_path_chooses_the_admin_chain(self):
        ctx = certs().client_context()
        self.assertEqual(await harness.echo_roundtrip(self.url("/admin/x"), ssl=ctx,
                                                      origin="https://console.example.com"), "still alive")
        for extra in ([], ["Origin: https://evil.com"]):
            code, _ = await self.status(self.proxy, harness.upgrade_request("/admin/x", extra=extra),
                                        ssl_context=ctx)
            self.assertEqual(code, 403)
        # The same request elsewhere goes through the public chain.
        self.assertEqual(await harness.echo_roundtrip(self.url("/chat"), ssl=ctx, origin="https://evil.com"),
                         "still alive")

    async def s_client(self, *args):
        result = await asyncio.to_thread(
            subprocess.run, ["/usr/bin/openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", *args],
            input=b"", capture_output=True, timeout=30)
        return (result.stdout + result.stderr).decode(errors="replace")

    async def test_server_name_chooses_the_certificate(self):
        for name, subject in (("localhost", "CN = localhost"), ("other.test", "CN = other.test"),
                              ("unknown.test", "CN = localhost"), ("api.partners.test", "CN = partners")):
            with self.subTest(name):
                args = ["-servername", name, "-showcerts"]
                if name.endswith("partners.test"):
                    args += ["-cert", certs().alice_cert, "-key", certs().alice_key]
                output = await self.s_client(*args)
                self.assertIn("subject=" + subject, output)

    async def test_alpn_http11_is_agreed_and_other_protocols_get_none(self):
        self.assertIn("ALPN protocol: http/1.1", await self.s_client("-servername", "localhost", "-alpn", "h2,http/1.1"))
        self.assertIn("No ALPN negotiated", await self.s_client("-servername", "localhost", "-alpn", "h2"))

    async def test_partner_chain_requires_a_client_certificate(self):
        ctx_no_cert = self.partner_context(cert=False)
        with self.assertRaises((ssl.SSLError, ConnectionError, websockets.InvalidHandshake, EOFError)):
            async with websockets.connect(self.url(), ssl=ctx_no_cert, server_hostname="api.partners.test",
                                          open_timeout=10) as ws:
                await ws.send("x")
                await ws.recv()
        await harness.async_wait_until(lambda: "TLS handshake failed" in self.proxy.log(), 10, "the log line")

    async def test_partner_chain_forwards_the_verified_certificate_and_drops_a_spoofed_one(self):
        spoof = {"x-forwarded-client-cert": 'Subject="CN=admin"'}
        async with websockets.connect(self.url(), ssl=self.partner_context(), server_hostname="api.partners.test",
                                      extra_headers=spoof) as ws:
            await ws.send("hi")
            self.assertEqual(await ws.recv(), "hi")
            self.assertEqual(ws.transport.get_extra_info("ssl_object").version(), "TLSv1.3")
        seen = self.upstream.requests[-1][1]
        self.assertEqual(seen.get_all("x-forwarded-client-cert"),
                         ['Subject="CN=alice";URI=spiffe://partners.test/alice;DNS=alice.partners.test'])

    async def test_partner_chain_refuses_a_certificate_from_another_ca(self):
        c = certs()
        ctx = c.client_context(cert=(c.mallory_cert, c.mallory_key))
        with self.assertRaises((ssl.SSLError, ConnectionError, websockets.InvalidHandshake, EOFError)):
            async with websockets.connect(self.url(), ssl=ctx, server_hostname="api.partners.test",
                                          open_timeout=10) as ws:
                await ws.send("x")
                await ws.recv()

    async def test_partner_chain_has_its_own_tls_versions(self):
        ctx = self.partner_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            await websockets.connect(self.url(), ssl=ctx, server_hostname="api.partners.test", open_timeout=10)
        # The listener's own chains still take TLS 1.2.
        ctx12 = certs().client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(await harness.echo_roundtrip(self.url(), ssl=ctx12), "still alive")

    async def test_partner_chain_rate_limits_per_certificate(self):
        statuses = []
        for _ in range(4):
            response = await harness.raw_exchange(self.port, harness.upgrade_request(),
                                                  ssl_context=self.partner_context(),
                                                  server_hostname="api.partners.test")
            statuses.append(harness.status_of(response))
        self.assertEqual(statuses[:2], [101, 101])
        self.assertIn(429, statuses[2:])


class ChainSelectionTest(FilterTestCase):
    async def test_no_matching_chain_and_no_default_gets_404(self):
        async with EchoUpstream() as upstream:
            chain = ('  filter_chains { name: "only-chat" match { path_prefixes: "/chat" } }\n')
            proxy = self.start_proxy(listener(extra=chain) + cluster(port=upstream.port))
            self.assertEqual(await harness.echo_roundtrip(proxy.url("/chat")), "still alive")
            code, response = await self.status(proxy, harness.upgrade_request("/feed"))
            self.assertEqual(code, 404)
            self.assertIn(b"no filter chain", response)

    async def test_filter_config_errors_name_listener_chain_filter_and_field(self):
        config = example("rate_limit.textproto").replace("burst: 5", "burst: 0")
        path = os.path.join(harness.tmpdir(), "bad.textproto")
        with open(path, "w") as f:
            f.write(config)
        result = run_wsproxy("--config", path, "--validate")
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr, r'bad.textproto:\d+:\d+: listeners\["feed"\]\.filter_chains\["fair-use"\]'
                                        r'\.filters\["per-client"\]\.typed_config\.new_connections\.burst: must be at least 1')

    async def test_chain_tls_without_server_names_is_a_config_error(self):
        config = example("tls_chains.textproto").replace('match { server_names: "*.partners.test" }', "")
        path = os.path.join(harness.tmpdir(), "bad.textproto")
        with open(path, "w") as f:
            f.write(config)
        result = run_wsproxy("--config", path, "--validate")
        self.assertEqual(result.returncode, 1)
        self.assertIn('filter_chains["partners"].tls: a chain\'s TLS is chosen by server name', result.stderr)


if __name__ == "__main__":
    harness.main()
