#!/usr/bin/python3
"""The jwt_authn filter against the real binary, with tokens minted by
python3-jwt (PyJWT, an implementation independent of ours): every
algorithm, every refusal reason, every token location, claims passed on,
keys fetched from a local HTTPS JWKS server (with rotation and failing
closed), and a live connection ended when its token expires."""

import asyncio
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

import harness  # noqa: E402
from admin_client import Admin  # noqa: E402
from harness import EchoUpstream, Proxy, certs, cluster, listener  # noqa: E402
import websockets  # noqa: E402

ISSUER = "https://idp.test"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """A private key per algorithm family, and their public JWKS."""

    def __init__(self, suffix=""):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = {"ES256": ec.generate_private_key(ec.SECP256R1()), "ES384": ec.generate_private_key(ec.SECP384R1()),
                   "ES512": ec.generate_private_key(ec.SECP521R1())}
        self.ed = ed25519.Ed25519PrivateKey.generate()
        self.secret = os.urandom(64)
        self.suffix = suffix

    def kid(self, alg):
        family = {"RS": "rsa", "PS": "rsa", "HS": "hmac", "Ed": "ed"}.get(alg[:2], alg.lower())
        return family + self.suffix

    def private(self, alg):
        if alg[:2] in ("RS", "PS"):
            return self.rsa
        if alg.startswith("ES"):
            return self.ec[alg]
        if alg == "EdDSA":
            return self.ed
        return self.secret

    def jwks(self):
        keys = [dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())), kid=self.kid("RS256")),
                dict(json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.ed.public_key())), kid=self.kid("EdDSA")),
                dict(json.loads(jwt.algorithms.HMACAlgorithm.to_jwk(self.secret)), kid=self.kid("HS256"))]
        for alg, key in self.ec.items():
            keys.append(dict(json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), kid=self.kid(alg)))
        return {"keys": keys}

    def token(self, alg="RS256", lifetime=300, **claims):
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": "chat", "sub": "alice", "iat": now, "exp": now + lifetime, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, self.private(alg), algorithm=alg, headers={"kid": self.kid(alg)})


ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
              "HS256", "HS384", "HS512"]

LOCATIONS = """
        token_locations { authorization_bearer: true }
        token_locations { header: "x-access-token" }
        token_locations { query_parameter { name: "access_token" remove: true } }
        token_locations { cookie: "session" }
        token_locations { subprotocol { kubernetes_form: true } }
"""


def jwt_chain(keys_config, extra_provider="", rules=""):
    return f"""  filter_chains {{
    name: "auth"
    filters {{
      name: "jwt"
      typed_config {{
        [type.googleapis.com/wsproxy.filters.jwt_authn.v1.JwtAuthn] {{
          providers {{
            name: "idp"
            issuer: "{ISSUER}"
            audiences: "chat"
            {keys_config}
            claims_to_headers {{ claim: "sub" header: "x-user-id" }}
            {LOCATIONS}
            {extra_provider}
          }}
          {rules}
        }}
      }}
    }}
    filters {{
      name: "headers"
      typed_config {{
        [type.googleapis.com/wsproxy.filters.header_rewrite.v1.HeaderRewrite] {{
          request {{ set {{ name: "x-role" value: "%JWT_CLAIM(role)%" }} }}
        }}
      }}
    }}
  }}
"""


def write_jwks(keys):
    path = os.path.join(harness.tmpdir(), "jwks.json")
    with open(path, "w") as f:
        json.dump(keys.jwks(), f)
    return path


class JwksServer:
    """An HTTPS server on 127.0.0.1 serving a JWKS that the test can swap."""

    def __init__(self, keys):
        self.document = json.dumps(keys.jwks()).encode()
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.document)))
                self.end_headers()
                self.wfile.write(server.document)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = certs().server_context().wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, keys):
        self.document = json.dumps(keys.jwks()).encode()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class JwtTestCase(unittest.IsolatedAsyncioTestCase):
    keys = None

    @classmethod
    def setUpClass(cls):
        cls.keys = Keys()

    def start_proxy(self, config):
        proxy = Proxy(config)
        admin = Admin(proxy.admin_port)
        self.addCleanup(admin.close)
        self.addCleanup(lambda: self.assertEqual(proxy.stop(), 0, proxy.log()))
        return proxy, admin

    async def status(self, proxy, path="/chat", extra=()):
        response = await harness.raw_exchange(proxy.port(), harness.upgrade_request(path, extra=list(extra)))
        return harness.status_of(response), response


class VerificationTest(JwtTestCase):
    async def asyncSetUp(self):
        self.upstream = await EchoUpstream(subprotocols=["access_token", "chat.v1"]).__aenter__()
        rules = ('rules { path_prefix: "/public" requirement: REQUIREMENT_OPTIONAL }\n'
                 '          rules { path_prefix: "/health" requirement: REQUIREMENT_BYPASS }')
        config = (listener(extra=jwt_chain(f'jwks_file: "{write_jwks(self.keys)}"', rules=rules)) +
                  cluster(port=self.upstream.port))
        self.proxy, self.admin = self.start_proxy(config)

    async def asyncTearDown(self):
        await self.upstream.__aexit__(None, None, None)

    async def test_every_algorithm_verifies(self):
        for alg in ALGORITHMS:
            with self.subTest(alg):
                headers = {"Authorization": "Bearer " + self.keys.token(alg, sub=f"user-{alg}")}
                self.assertEqual(await harness.echo_roundtrip(self.proxy.url(), extra_headers=headers), "still alive")
                self.assertEqual(self.upstream.requests[-1][1]["x-user-id"], f"user-{alg}")

    async def test_every_refusal_reason_answers_401_and_is_counted(self):
        other = Keys()
        hs_confusion_input = (b64url(json.dumps({"alg": "HS256", "kid": "rsa"}).encode()) + "." +
                              b64url(json.dumps({"iss": ISSUER, "aud": "chat", "sub": "eve"}).encode()))
        pem = self.keys.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        hs_confusion = hs_confusion_input + "." + b64url(hmac.new(pem, hs_confusion_input.encode(), hashlib.sha256).digest())
        cases = {
            "missing": None,
            "malformed": "this.is-not.a-jwt",
            "bad_signature": other.token("RS256"),  # same kid, another key
            "expired": self.keys.token(lifetime=-3600),
            "not_yet_valid": self.keys.token(nbf=int(time.time()) + 3600),
            "wrong_issuer": self.keys.token(iss="https://evil.test"),
            "wrong_audience": self.keys.token(aud=["feed", "admin"]),
            "unknown_key": jwt.encode({"iss": ISSUER, "aud": "chat"}, self.keys.rsa, algorithm="RS256",
                                      headers={"kid": "rotated-away"}),
        }
        for reason, token in cases.items():
            with self.subTest(reason):
                extra = [] if token is None else [f"Authorization: Bearer {token}"]
                code, response = await self.status(self.proxy, extra=extra)
                self.assertEqual(code, 401, response)
                if reason == "missing":
                    self.assertIn(b'\r\nWWW-Authenticate: Bearer realm="wsproxy"\r\n', response)
                else:
                    self.assertIn(b'error="invalid_token"', response)
                    self.assertIn(f'error_description="{reason}"'.encode(), response)
        for name, token in (("alg none", jwt.encode({"iss": ISSUER, "aud": "chat"}, None, algorithm="none")),
                            ("HS256 signed with the RSA public key", hs_confusion)):
            with self.subTest(name):
                code, _ = await self.status(self.proxy, extra=[f"Authorization: Bearer {token}"])
                self.assertEqual(code, 401)
        values, _ = await asyncio.to_thread(self.admin.stats, r"^filter\.auth\.jwt\.")
        for reason in cases:
            # "alg": "none" and the HS/RS confusion are bad signatures too.
            expected = 3 if reason == "bad_signature" else 1
            self.assertEqual(values[f"filter.auth.jwt.denied.{reason}"], expected, reason)
        self.assertEqual(values["filter.auth.jwt.denied"], len(cases) + 2)
        self.assertEqual(self.upstream.requests, [])

    async def test_every_token_location(self):
        token = self.keys.token("ES256", role="moderator")
        k8s = "base64url.bearer.authorization.k8s.io." + b64url(token.encode())
        attempts = {
            "authorization": dict(extra_headers={"Authorization": "Bearer " + token}),
            "header": dict(extra_headers={"X-Access-Token": token}),
            "query": dict(path="/chat?room=5&access_token=" + token),
            "cookie": dict(extra_headers={"Cookie": "theme=dark; session=" + token}),
            "browser subprotocol": dict(subprotocols=["access_token", token]),
            "kubernetes subprotocol": dict(subprotocols=[k8s, "chat.v1"]),
        }
        for name, how in attempts.items():
            with self.subTest(name):
                path = how.pop("path", "/chat")
                async with websockets.connect(self.proxy.url(path), **how) as ws:
                    await ws.send("x")
                    self.assertEqual(await ws.recv(), "x")
                    if name == "browser subprotocol":
                        self.assertEqual(ws.subprotocol, "access_token")
                    if name == "kubernetes subprotocol":
                        self.assertEqual(ws.subprotocol, "chat.v1")
                seen_path, seen = self.upstream.requests[-1]
                self.assertEqual(seen["x-user-id"], "alice")
                self.assertEqual(seen["x-role"], "moderator")  # header_rewrite reads the verified claim
                self.assertNotIn(token, seen.get("Sec-WebSocket-Protocol", ""))
                self.assertNotIn(b64url(token.encode()), seen.get("Sec-WebSocket-Protocol", ""))
                if name == "query":
                    self.assertEqual(seen_path, "/chat?room=5")

    async def test_claim_headers_cannot_be_forged(self):
        headers = {"Authorization": "Bearer " + self.keys.token(), "X-User-Id": "root"}
        await harness.echo_roundtrip(self.proxy.url(), extra_headers=headers)
        self.assertEqual(self.upstream.requests[-1][1].get_all("x-user-id"), ["alice"])
        await harness.echo_roundtrip(self.proxy.url("/public"), extra_headers={"X-User-Id": "root"})
        self.assertNotIn("x-user-id", self.upstream.requests[-1][1])

    async def test_optional_and_bypassed_routes(self):
        self.assertEqual(await harness.echo_roundtrip(self.proxy.url("/public/feed")), "still alive")
        code, _ = await self.status(self.proxy, "/public/feed", ["Authorization: Bearer not.a.jwt"])
        self.assertEqual(code, 401)
        code, _ = await self.status(self.proxy, "/health", ["Authorization: Bearer not.a.jwt"])
        self.assertEqual(code, 101)

    async def test_connections_show_the_verified_subject(self):
        headers = {"Authorization": "Bearer " + self.keys.token(sub="bob")}
        async with websockets.connect(self.proxy.url(), extra_headers=headers) as ws:
            await ws.send("x")
            await ws.recv()
            listed = (await asyncio.to_thread(self.admin.call, "ListConnections")).connections
            self.assertEqual(listed[0].annotations["jwt.claim.sub"], "bob")


class RemoteJwksTest(JwtTestCase):
    async def test_keys_are_fetched_rotated_and_missing_keys_fail_closed(self):
        old_keys, new_keys = self.keys, Keys(suffix="-2")
        server = JwksServer(old_keys)
        self.addCleanup(server.close)
        async with EchoUpstream() as upstream:
            remote = (f'remote_jwks {{ uri: "https://127.0.0.1:{server.port}/.well-known/jwks.json" '
                      f'cache_duration {{ seconds: 1 }} ca_file: "{certs().ca_cert}" }}')
            proxy, admin = self.start_proxy(listener(extra=jwt_chain(remote)) + cluster(port=upstream.port))

            async def accepted(keys):
                code, _ = await self.status(proxy, extra=[f"Authorization: Bearer {keys.token('RS256')}"])
                return code == 101

            await harness.async_wait_until_async(lambda: accepted(old_keys), 20, "keys from the JWKS server")
            self.assertGreaterEqual(server.requests, 1)
            server.serve(new_keys)
            # Within the cache duration (1 s) the new key set replaces the old.
            await harness.async_wait_until_async(lambda: accepted(new_keys), 20, "the rotated keys")
            code, response = await self.status(proxy, extra=[f"Authorization: Bearer {old_keys.token('RS256')}"])
            self.assertEqual(code, 401)
            self.assertIn(b"unknown_key", response)
            values, _ = await asyncio.to_thread(admin.stats, "jwks_fetch")
            self.assertGreaterEqual(values["filter.auth.jwt.jwks_fetch_ok"], 2)

    async def test_no_keys_yet_refuses_every_token(self):
        async with EchoUpstream() as upstream:
            dead = harness.closed_port()
            remote = (f'remote_jwks {{ uri: "https://127.0.0.1:{dead}/jwks.json" cache_duration {{ seconds: 1 }} '
                      f'timeout {{ seconds: 1 }} ca_file: "{certs().ca_cert}" }}')
            proxy, admin = self.start_proxy(listener(extra=jwt_chain(remote)) + cluster(port=upstream.port))
            code, response = await self.status(proxy, extra=[f"Authorization: Bearer {self.keys.token()}"])
            self.assertEqual(code, 401)
            self.assertIn(b"no_keys", response)
            await harness.async_wait_until(lambda: "cannot fetch" in proxy.log(), 20, "the fetch failure in the log")


class ExpiryTest(JwtTestCase):
    async def test_connection_is_closed_with_1008_when_the_token_expires(self):
        async with EchoUpstream() as upstream:
            keys_config = f'jwks_file: "{write_jwks(self.keys)}"\n            clock_skew {{ }}'
            proxy, admin = self.start_proxy(listener(extra=jwt_chain(keys_config)) + cluster(port=upstream.port))
            headers = {"Authorization": "Bearer " + self.keys.token(lifetime=2)}
            async with websockets.connect(proxy.url(), extra_headers=headers, ping_interval=None) as ws:
                started = time.monotonic()
                await ws.send("before expiry")
                self.assertEqual(await ws.recv(), "before expiry")
                with self.assertRaises(websockets.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 20)
                self.assertEqual((ws.close_code, ws.close_reason), (1008, "token expired"))
                self.assertLess(time.monotonic() - started, 10)
            await harness.async_wait_until(lambda: upstream.closes, 10, "the upstream to see the close")
            self.assertEqual(upstream.closes[0][0], 1008)
            values, _ = await asyncio.to_thread(admin.stats, "planned_close")
            self.assertEqual(values["listener.public.downstream_cx_planned_close"], 1)


if __name__ == "__main__":
    harness.main()
