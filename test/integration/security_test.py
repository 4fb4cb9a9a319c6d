#!/usr/bin/python3
"""Security defaults against the real binary: old TLS versions and weak
ciphers refused unless configured, no Server header or version in the
proxy's own answers, and secrets (tokens, JWT keys, the admin token, TLS
private keys) never in the logs, the access log or the config dump."""

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jwt  # noqa: E402

import harness  # noqa: E402
from admin_client import Admin  # noqa: E402
from harness import EchoUpstream, Proxy, certs, cluster, listener, upgrade_request  # noqa: E402
import websockets  # noqa: E402


def s_client(port, *args):
    """openssl s_client's handshake against the proxy: (succeeded, output)."""
    result = subprocess.run(["/usr/bin/openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                             "localhost", "-CAfile", certs().ca_cert, "-brief", *args],
                            input=b"", capture_output=True, timeout=30)
    output = (result.stdout + result.stderr).decode(errors="replace")
    return "Protocol version:" in output, output


class SecurityTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.upstream = EchoUpstream()
        await self.upstream.__aenter__()

    async def asyncTearDown(self):
        await self.upstream.__aexit__(None, None, None)

    def start(self, config):
        proxy = Proxy(config)
        admin = Admin(proxy.admin_port, token=getattr(self, "admin_token", None))
        self.addCleanup(lambda: self.assertEqual(proxy.stop(), 0, proxy.log()))
        self.addCleanup(admin.close)
        return proxy, admin

    async def tls_errors(self, admin):
        values, _ = await asyncio.to_thread(admin.stats, r"^listener\.public\.downstream_cx_tls_handshake_error$")
        return values.get("listener.public.downstream_cx_tls_handshake_error", 0)

    async def test_tls_below_1_2_and_ciphers_without_forward_secrecy_or_aead_are_refused(self):
        c = certs()
        proxy, admin = self.start(listener(tls=(c.server_cert, c.server_key)) + cluster(port=self.upstream.port))
        # SECLEVEL=0 lets the client offer what Debian's OpenSSL would not.
        refused = {
            "TLS 1.0": ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
            "TLS 1.1": ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
            "TLS 1.2 with CBC": ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384@SECLEVEL=0"],
            "TLS 1.2 with SHA-1 CBC and no ECDHE": ["-tls1_2", "-cipher", "AES128-SHA:AES256-SHA@SECLEVEL=0"],
        }
        for name, args in refused.items():
            with self.subTest(name):
                before = await self.tls_errors(admin)
                ok, output = await asyncio.to_thread(s_client, proxy.port(), *args)
                self.assertFalse(ok, output)
                deadline = time.monotonic() + 10
                while await self.tls_errors(admin) == before and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                self.assertEqual(await self.tls_errors(admin), before + 1, output)
        for cipher in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"):
            with self.subTest(cipher):
                ok, output = await asyncio.to_thread(s_client, proxy.port(), "-tls1_2", "-cipher", cipher)
                self.assertTrue(ok, output)
                self.assertIn(f"Ciphersuite: {cipher}", output)
        ok, output = await asyncio.to_thread(s_client, proxy.port())
        self.assertIn("Protocol version: TLSv1.3", output)
        await harness.async_wait_until(lambda: "TLS handshake failed" in proxy.log(), 10, "the log line")

    async def test_the_proxys_own_answers_name_no_server_and_no_version(self):
        proxy, _ = self.start(listener(routes=[("/chat", "echo"), ("/nowhere", "none")]) +
                              cluster(port=self.upstream.port) + cluster("none", ports=[]))
        requests = {
            "404": upgrade_request("/unknown"),
            "426": b"GET /chat HTTP/1.1\r\nHost: example.test\r\n\r\n",
            "400": upgrade_request("/chat", key="short"),
            "431": upgrade_request("/chat", extra=["X-Big: " + "b" * 20000]),
            "503": upgrade_request("/nowhere"),
        }
        for status, request in requests.items():
            with self.subTest(status):
                response = await harness.raw_exchange(proxy.port(), request)
                self.assertEqual(harness.status_of(response), int(status), response)
                head = response.split(b"\r\n\r\n", 1)[0].lower()
                self.assertNotIn(b"\r\nserver:", head)
                self.assertNotIn(b"x-powered-by", head)
                self.assertNotIn(b"wsproxy", response.lower())
        # A relayed 101 carries the upstream's headers only.
        async with websockets.connect(proxy.url("/chat"), ping_interval=None) as ws:
            self.assertNotIn("wsproxy", str(ws.response_headers).lower())

    async def test_secrets_stay_out_of_logs_access_log_and_config_dump(self):
        c = certs()
        hmac_key = os.urandom(48)
        jwk = base64.urlsafe_b64encode(hmac_key).rstrip(b"=").decode()
        jwks = json.dumps({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": jwk}]})
        self.admin_token = "admin-" + os.urandom(12).hex()
        chain = f"""  filter_chains {{
    name: "auth"
    filters {{
      name: "jwt"
      typed_config {{
        [type.googleapis.com/wsproxy.filters.jwt_authn.v1.JwtAuthn] {{
          providers {{
            name: "idp"
            issuer: "https://idp.test"
            audiences: "chat"
            local_jwks: {json.dumps(jwks)}
            token_locations {{ authorization_bearer: true }}
            token_locations {{ query_parameter {{ name: "access_token" remove: true }} }}
          }}
        }}
      }}
    }}
  }}
"""
        config = (listener(tls=(c.server_cert, c.server_key), extra=chain) + cluster(port=self.upstream.port) +
                  f'admin {{ address {{ address: "127.0.0.1" port: 0 }} bearer_token: "{self.admin_token}" }}\n')
        proxy, admin = self.start(config)
        now = int(time.time())
        claims = {"iss": "https://idp.test", "aud": "chat", "sub": "alice", "iat": now, "exp": now + 300}
        good = jwt.encode(claims, hmac_key, algorithm="HS256", headers={"kid": "k1"})
        forged = jwt.encode(claims, os.urandom(48), algorithm="HS256", headers={"kid": "k1"})
        expired = jwt.encode(dict(claims, exp=now - 600), hmac_key, algorithm="HS256", headers={"kid": "k1"})
        ctx = c.client_context()
        url = proxy.url("/chat", scheme="wss")
        async with websockets.connect(url, ssl=ctx, extra_headers={"Authorization": "Bearer " + good}) as ws:
            await ws.send("in")
            self.assertEqual(await ws.recv(), "in")
        for token, where in ((forged, "header"), (expired, "header"), (forged, "query"), ("not.a.jwt", "header")):
            with self.assertRaises(websockets.InvalidStatusCode) as refused:
                if where == "header":
                    await websockets.connect(url, ssl=ctx, extra_headers={"Authorization": "Bearer " + token})
                else:
                    await websockets.connect(url + "?access_token=" + token, ssl=ctx)
            self.assertEqual(refused.exception.status_code, 401)
        await harness.async_wait_until(lambda: len([e for e in proxy.access_log() if e["status"] == 401]) == 4, 10,
                                       "four refusals in the access log")
        dump = (await asyncio.to_thread(admin.call, "GetConfig")).config
        self.assertIn("[redacted]", dump)
        with open(c.server_key) as f:
            key_body = "".join(f.read().splitlines()[1:-1])
        secrets = {"the valid token": good, "a forged token": forged, "an expired token": expired,
                   "the token signatures": good.rsplit(".", 1)[1], "the JWT key": jwk,
                   "the admin bearer token": self.admin_token, "the TLS private key": key_body[:40]}
        places = {"the process log": proxy.log(), "the access log": json.dumps(proxy.access_log()), "the config dump": dump}
        for place, text in places.items():
            for secret_name, secret in secrets.items():
                with self.subTest(f"{secret_name} in {place}"):
                    self.assertNotIn(secret, text)


if __name__ == "__main__":
    harness.main()
