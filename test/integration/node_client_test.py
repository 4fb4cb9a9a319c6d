#!/usr/bin/python3
"""node's ws (an independent WebSocket implementation) through wsproxy,
over ws:// and wss://."""

import asyncio
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EchoUpstream, Proxy, certs, cluster, listener  # noqa: E402

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_ws_client.js")


async def run_node_client(url, ca_file=None):
    args = [CLIENT, url] + ([ca_file] if ca_file else [])
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
    process = await asyncio.create_subprocess_exec("/usr/bin/node", *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    lines = stdout.decode().strip().splitlines()
    if not lines:
        raise AssertionError(f"node printed nothing (exit {process.returncode}): {stderr.decode()}")
    return process.returncode, json.loads(lines[-1])


class NodeClientTest(unittest.IsolatedAsyncioTestCase):
    def start_proxy(self, config):
        proxy = Proxy(config)
        self.addCleanup(lambda: self.assertEqual(proxy.stop(), 0, proxy.log()))
        return proxy

    async def test_node_ws_client_over_ws(self):
        async with EchoUpstream(subprotocols=["chat.v2"]) as upstream:
            proxy = self.start_proxy(listener() + cluster(port=upstream.port))
            code, result = await run_node_client(proxy.url("/node"))
            self.assertEqual(code, 0, result)
            self.assertEqual(result["echoed"], 14)
            self.assertEqual(result["protocol"], "chat.v2")
            await harness.async_wait_until(lambda: upstream.closes, 10, "the upstream to see the close")
            self.assertEqual(upstream.closes[0], (4005, "node done"))

    async def test_node_ws_client_over_wss(self):
        async with EchoUpstream(subprotocols=["chat.v2"]) as upstream:
            c = certs()
            proxy = self.start_proxy(listener(tls=(c.server_cert, c.server_key)) + cluster(port=upstream.port))
            # The server certificate has 127.0.0.1 as an IP SAN: node verifies it.
            code, result = await run_node_client(proxy.url("/node", scheme="wss"), c.ca_cert)
            self.assertEqual(code, 0, result)
            self.assertEqual(result["echoed"], 14)


if __name__ == "__main__":
    harness.main()
