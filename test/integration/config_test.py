#!/usr/bin/python3
"""The configuration as a user meets it: `wsproxy --validate` on good and bad
files (errors name the file, line, column and field), start-up failures,
and the configs in examples/ loaded and exercised."""

import asyncio
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Proxy, certs, cluster, listener, run_wsproxy  # noqa: E402
import websockets  # noqa: E402

ECHO_SERVER = os.path.join(harness.REPO, "tools", "echo_server.py")


def write_config(text):
    path = os.path.join(harness.tmpdir(), "config.textproto")
    with open(path, "w") as f:
        f.write(text)
    return path


class ValidateTest(unittest.TestCase):
    def validate(self, text):
        path = write_config(text)
        return path, run_wsproxy("--config", path, "--validate")

    def assert_invalid(self, text, *patterns):
        path, result = self.validate(text)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        for pattern in patterns:
            self.assertRegex(result.stderr, pattern.replace("FILE", re.escape(path)))
        return result.stderr

    def test_a_valid_config_passes(self):
        _, result = self.validate(listener() + cluster(port=9000))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("is valid: 1 listener(s), 1 cluster(s)", result.stdout)

    def test_unknown_field_names_file_line_and_column(self):
        text = listener() + cluster(port=9000) + 'listeners { name: "x" adress { } }\n'
        self.assert_invalid(text, r'FILE:10:30: Message type "wsproxy.config.v1.Listener" has no field named "adress"')

    def test_syntax_error_names_the_position(self):
        self.assert_invalid('listeners { name: "x" \n', r"FILE:2:1: ")

    def test_route_to_an_unknown_cluster_names_listener_route_and_field(self):
        text = listener(routes=[("/", "echo"), ("/chat", "nope")]) + cluster(port=9000)
        self.assert_invalid(text, r'FILE:5:33: listeners\["public"\]\.routes\[1\]\.cluster: no cluster is named "nope"')

    def test_every_problem_is_reported_at_once(self):
        text = ('listeners { name: "bad name" address { address: "localhost" port: 70000 }\n'
                '  routes { path_prefix: "chat" cluster: "echo" } }\n' +
                cluster(port=0) + cluster(port=9000))
        stderr = self.assert_invalid(
            text,
            r'clusters\["echo"\]\.endpoints\[0\]\.port: must be between 1 and 65535',
            r'FILE:8:3: clusters\["echo"\]\.name: another cluster is already named "echo"',
            r'listeners\["bad name"\]\.name: "bad name" is not a valid name',
            r'listeners\["bad name"\]\.address\.address: "localhost" is not an IP address',
            r'listeners\["bad name"\]\.address\.port: must be at most 65535',
            r'listeners\["bad name"\]\.routes\[0\]\.path_prefix: must start with',
        )
        self.assertEqual(len(stderr.strip().splitlines()), 7, stderr)

    def test_listener_without_routes_is_refused(self):
        text = 'listeners { name: "x" address { address: "127.0.0.1" port: 1 } }\n'
        self.assert_invalid(text, r'listeners\["x"\]\.routes: a listener needs at least one route')

    def test_bad_durations_and_limits_are_refused(self):
        extra = ("  timeouts { handshake_timeout { seconds: -1 } idle_timeout { nanos: 2000000000 } }\n"
                 "  limits { max_connections: 0 max_request_header_bytes: 10 }\n")
        self.assert_invalid(listener(extra=extra) + cluster(port=9000),
                            r"timeouts\.handshake_timeout: must be a non-negative duration",
                            r"timeouts\.idle_timeout: must be a non-negative duration",
                            r"limits\.max_connections: must be at least 1",
                            r"limits\.max_request_header_bytes: must be between 512 and 1048576")

    def test_missing_certificate_file_names_the_field(self):
        text = listener(tls=("missing-cert.pem", "missing-key.pem")) + cluster(port=9000)
        self.assert_invalid(text, r'FILE:4:\d+: listeners\["public"\]\.tls\.certificates\[0\]\.certificate_chain_file: '
                                  r'cannot load ".*missing-cert.pem"')

    def test_key_not_matching_the_certificate_is_refused(self):
        c = certs()
        text = listener(tls=(c.server_cert, c.ca_key)) + cluster(port=9000)
        self.assert_invalid(text, r"private_key_file: .*(does not match|cannot load)")

    def test_unresolvable_upstream_host_is_refused(self):
        text = listener() + cluster(port=9000).replace("127.0.0.1", "no-such-host.invalid")
        self.assert_invalid(text, r'clusters\["echo"\]\.endpoints\[0\]\.address: cannot resolve "no-such-host.invalid"')

    def test_filter_of_unknown_type_is_refused(self):
        extra = ('  filter_chains { name: "main" filters { name: "f" typed_config {\n'
                 '    [type.googleapis.com/google.protobuf.Duration] { seconds: 1 } } } }\n')
        self.assert_invalid(listener(extra=extra) + cluster(port=9000),
                            r'listeners\["public"\]\.filter_chains\["main"\]\.filters\["f"\]\.typed_config: '
                            r'no filter is built in for type "google.protobuf.Duration" \(built in: '
                            r'[^)]*wsproxy.filters.origin.v1.Origin[^)]*\)')

    def test_missing_file_is_refused(self):
        result = run_wsproxy("--config", "/nonexistent/wsproxy.textproto", "--validate")
        self.assertEqual(result.returncode, 1)
        self.assertIn("/nonexistent/wsproxy.textproto: cannot read the config file", result.stderr)


class StartupTest(unittest.TestCase):
    def test_invalid_config_stops_start_up_with_the_reasons(self):
        path = write_config(listener(routes=[("/", "nope")]))
        result = run_wsproxy("--config", path)
        self.assertEqual(result.returncode, 1)
        self.assertIn('no cluster is named "nope"', result.stderr)

    def test_address_in_use_stops_start_up(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            text = listener() .replace("port: 0", f"port: {port}") + cluster(port=9000)
            result = run_wsproxy("--config", write_config(text))
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr, rf"listener public: cannot bind 127\.0\.0\.1:{port}: Address already in use")

    def test_missing_config_flag_is_explained(self):
        result = run_wsproxy()
        self.assertEqual(result.returncode, 1)
        self.assertIn("--config FILE is required", result.stderr)


class ExamplesTest(unittest.IsolatedAsyncioTestCase):
    """Every example validates (with generated certificates in place of its
    tls/ files); the quick start also runs with the bundled echo upstream.
    The filter examples are exercised in filters_test.py."""

    async def test_every_example_validates(self):
        names = sorted(n for n in os.listdir(harness.EXAMPLES) if n.endswith(".textproto"))
        self.assertGreaterEqual(len(names), 7)
        for name in names:
            with self.subTest(name):
                result = run_wsproxy("--config", write_config(harness.example(name)), "--validate")
                self.assertEqual(result.returncode, 0, result.stderr)

    async def test_quickstart_relays_to_the_bundled_echo_server(self):
        echo = await asyncio.create_subprocess_exec("/usr/bin/python3", ECHO_SERVER, "--port", "0",
                                                    stdout=asyncio.subprocess.PIPE)
        try:
            line = (await asyncio.wait_for(echo.stdout.readline(), 30)).decode()
            echo_port = int(re.search(r":(\d+)$", line.strip()).group(1))
            proxy = Proxy(harness.example("quickstart.textproto", {8443: 0, 8090: echo_port}))
            try:
                url = proxy.url("/", listener="quickstart", scheme="wss")
                ctx = certs().client_context()
                self.assertEqual(await harness.echo_roundtrip(url, "hello from the quick start", ssl=ctx),
                                 "hello from the quick start")
            finally:
                self.assertEqual(proxy.stop(), 0, proxy.log())
        finally:
            echo.terminate()
            await echo.wait()


if __name__ == "__main__":
    harness.main()
