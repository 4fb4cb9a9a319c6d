"""Shared pieces of wsproxy's integration tests.

Tests start the real wsproxy binary on 127.0.0.1 and talk to it with
independent clients (python3-websockets, node's ws, openssl). Ports come
from the kernel: wsproxy listeners use port 0 and the harness reads the
bound port from wsproxy's start-up log line; upstreams bind port 0 too.
Readiness is polled with bounded waits, never assumed after a sleep.

Run a test file directly (it is its own Bazel sh_test):
    /usr/bin/python3 test/integration/proxy_test.py <path to wsproxy>
"""

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

import logging

import websockets

# IsolatedAsyncioTestCase runs loops in debug mode, which logs every slow
# callback (building a 1 MiB payload is one); only real problems matter here.
logging.getLogger("asyncio").setLevel(logging.ERROR)

WSPROXY = None  # path of the binary, set by main()
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, "examples")
START_TIMEOUT = 30.0  # seconds to wait for wsproxy to listen
LISTENING = re.compile(r'listener "([^"]+)" listening on ([0-9.]+):(\d+)')
ADMIN_LISTENING = re.compile(r"admin listening on ([0-9.]+):(\d+)")


def tmpdir():
    base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    return tempfile.mkdtemp(dir=base)


def wait_until(predicate, timeout, what, interval=0.02):
    """Polls predicate() until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def async_wait_until(predicate, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def async_wait_until_async(predicate, timeout, what, interval=0.1):
    """Like async_wait_until, for a predicate that is a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- certificates

class Certs:
    """A test CA, a server certificate for localhost/127.0.0.1 signed by it,
    and an unrelated CA, made with the openssl command line."""

    def __init__(self, directory=None):
        self.dir = directory or tmpdir()
        self.ca_cert, self.ca_key = self._ca("ca")
        self.other_ca_cert, self.other_ca_key = self._ca("other-ca")
        self.server_cert, self.server_key = self.issue("server", "localhost", ["DNS:localhost", "IP:127.0.0.1"])
        self.other_cert, self.other_key = self.issue("other", "other.test", ["DNS:other.test"])
        self.partners_cert, self.partners_key = self.issue("partners", "partners", ["DNS:*.partners.test"])
        self.client_ca_cert, self.client_ca_key = self._ca("client-ca")
        self.alice_cert, self.alice_key = self.issue("alice", "alice", ["URI:spiffe://partners.test/alice",
                                                                         "DNS:alice.partners.test"],
                                                     ca=(self.client_ca_cert, self.client_ca_key))
        self.mallory_cert, self.mallory_key = self.issue("mallory", "mallory", ["DNS:mallory.test"])
        self.example_tls_dir = self._example_tls_dir()

    def _example_tls_dir(self):
        """The files examples/*.textproto name under tls/."""
        directory = os.path.join(self.dir, "example-tls")
        os.makedirs(directory)
        files = {"quickstart-cert.pem": self.server_cert, "quickstart-key.pem": self.server_key,
                 "server-cert.pem": self.server_cert, "server-key.pem": self.server_key,
                 "other-cert.pem": self.other_cert, "other-key.pem": self.other_key,
                 "partners-cert.pem": self.partners_cert, "partners-key.pem": self.partners_key,
                 "client-ca.pem": self.client_ca_cert, "upstream-ca.pem": self.ca_cert}
        for name, source in files.items():
            os.symlink(source, os.path.join(directory, name))
        return directory

    def _run(self, *args):
        subprocess.run(["/usr/bin/openssl", *args], check=True, capture_output=True)

    def _ca(self, name):
        cert, key = os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + "-key.pem")
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=wsproxy test {name}",
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
        return cert, key

    def issue(self, name, common_name, sans, ca=None, days=2):
        ca_cert, ca_key = ca or (self.ca_cert, self.ca_key)
        cert, key = os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + "-key.pem")
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join(sans) + "\n")
        self._run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", f"/CN={common_name}")
        self._run("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
                  "-out", cert, "-days", str(days), "-extfile", ext)
        return cert, key

    def issue_expired(self, name, sans):
        """A certificate from the test CA whose validity ended yesterday
        (made with python3-cryptography: openssl x509 cannot back-date)."""
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        with open(self.ca_key, "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        with open(self.ca_cert, "rb") as f:
            ca_cert = x509.load_pem_x509_certificate(f.read())
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.utcnow()
        names = [x509.IPAddress(__import__("ipaddress").ip_address(s[3:])) if s.startswith("IP:")
                 else x509.DNSName(s[4:]) for s in sans]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=10))
                .not_valid_after(now - datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path, key_path = os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + "-key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return cert_path, key_path

    def client_context(self, ca=None, cert=None, **versions):
        """A client context trusting the test CA (or `ca`), presenting the
        (certificate, key) pair `cert` if given."""
        ctx = ssl.create_default_context(cafile=ca or self.ca_cert)
        if cert:
            ctx.load_cert_chain(*cert)
        for attr, value in versions.items():
            setattr(ctx, attr, value)
        return ctx

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        return ctx


_certs = None


def certs():
    """One set of certificates per test process."""
    global _certs
    if _certs is None:
        _certs = Certs()
    return _certs


# ---------------------------------------------------------------- config text

def example(name, ports=None):
    """The text of examples/<name> with ports replaced ({8080: 0, 9000:
    upstream port}) and its tls/ files pointing at generated certificates."""
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read()
    for old, new in (ports or {}).items():
        text = text.replace(f"port: {old} ", f"port: {new} ")
    return text.replace('"tls/', '"' + certs().example_tls_dir + "/")


def listener(name="public", routes=(("/", "echo"),), tls=None, extra=""):
    route_text = "".join(f'  routes {{ path_prefix: "{p}" cluster: "{c}" }}\n' for p, c in routes)
    tls_text = ""
    if tls:
        tls_text = (f'  tls {{ certificates {{ certificate_chain_file: "{tls[0]}" '
                    f'private_key_file: "{tls[1]}" }} {tls[2] if len(tls) > 2 else ""} }}\n')
    return (f'listeners {{\n  name: "{name}"\n  address {{ address: "127.0.0.1" port: 0 }}\n'
            f'{tls_text}{route_text}{extra}}}\n')


def cluster(name="echo", port=None, ports=None, tls=None, extra=""):
    ports = ports if ports is not None else [port]
    endpoints = "".join(f'  endpoints {{ address: "127.0.0.1" port: {p} }}\n' for p in ports)
    tls_text = f"  tls {{ {tls} }}\n" if tls else ""
    return f'clusters {{\n  name: "{name}"\n{endpoints}{tls_text}{extra}}}\n'


# ---------------------------------------------------------------- wsproxy

class Proxy:
    """A running wsproxy on a config written to a temporary file."""

    def __init__(self, config_text, concurrency=2, args=(), open_files=None):
        self.dir = tmpdir()
        self.config_path = os.path.join(self.dir, "wsproxy.textproto")
        self.access_log_path = os.path.join(self.dir, "access.log")
        self.log_path = os.path.join(self.dir, "wsproxy.log")
        config_text = self.runtime_config(config_text)
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.admin_port = None
        self.ports = {}
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [WSPROXY, "--config", self.config_path, "--concurrency", str(concurrency), *args],
            stdout=subprocess.DEVNULL, stderr=self._log, preexec_fn=lambda: _child_setup(open_files))
        expected = config_text.count("listeners {")
        try:
            wait_until(lambda: self._listening(expected), START_TIMEOUT, "wsproxy to listen")
        except Exception:
            self.stop()
            raise

    def runtime_config(self, config_text):
        """`config_text` with what every test proxy runs with: an admin port
        from the kernel and the access log in the test's folder (unless the
        text has its own). A reload must keep these the same."""
        if "admin {" not in config_text:
            config_text += 'admin { address { address: "127.0.0.1" port: 0 } }\n'
        if "access_log {" not in config_text:
            config_text += f'access_log {{ path: "{self.access_log_path}" }}\n'
        return config_text

    def _listening(self, expected):
        if self.process.poll() is not None:
            raise AssertionError(f"wsproxy exited with {self.process.returncode}:\n{self.log()}")
        log = self.log()
        for name, _, port in LISTENING.findall(log):
            self.ports[name] = int(port)
        admin = ADMIN_LISTENING.search(log)
        if admin:
            self.admin_port = int(admin.group(2))
        return len(self.ports) >= expected and "wsproxy" in log and " started: " in log

    def url(self, path="/", listener="public", scheme="ws"):
        return f"{scheme}://127.0.0.1:{self.ports[listener]}{path}"

    def port(self, listener="public"):
        return self.ports[listener]

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def access_log(self):
        if not os.path.exists(self.access_log_path):
            return []
        with open(self.access_log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    async def wait_access_log(self, predicate, timeout=10.0):
        """The first access-log entry matching predicate, waiting for it."""
        return await async_wait_until(lambda: next((e for e in self.access_log() if predicate(e)), None),
                                      timeout, "an access-log entry")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def _child_setup(open_files=None):
    """In a child: receive SIGTERM when the test process dies, so no wsproxy
    outlives a crashed or killed test; optionally cap its open files."""
    import ctypes
    import resource
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if open_files is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))


def run_wsproxy(*args, timeout=30):
    """Runs wsproxy to completion (for --validate and start-up failures)."""
    return subprocess.run([WSPROXY, *args], capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- upstreams

class EchoUpstream:
    """A python3-websockets server on 127.0.0.1 that echoes every message and
    records each upgrade request's headers and each connection's close."""

    def __init__(self, ssl_context=None, subprotocols=None, compression="deflate", on_connect=None):
        self.ssl_context = ssl_context
        self.subprotocols = subprotocols
        self.compression = compression
        self.on_connect = on_connect
        self.requests = []  # (path, headers) per connection
        self.closes = []    # (code, reason) per ended connection
        self.server = None

    async def __aenter__(self):
        self.server = await websockets.serve(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context, subprotocols=self.subprotocols,
            compression=self.compression, max_size=None, ping_interval=None)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, ws):
        self.requests.append((ws.path, ws.request_headers))
        try:
            if self.on_connect:
                await self.on_connect(ws)
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closes.append((ws.close_code, ws.close_reason))


class SilentUpstream:
    """Accepts TCP connections and never answers (for connect timeouts), or
    answers with fixed bytes after reading the request head; optionally
    over TLS (`ssl_context`)."""

    def __init__(self, answer=None, then=None, ssl_context=None):
        self.answer = answer
        self.then = then  # bytes sent 0.3 s after the answer, with the close
        self.ssl_context = ssl_context
        self.connections = 0

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()

    async def _handle(self, reader, writer):
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.answer is not None:
                writer.write(self.answer)
                await writer.drain()
                if self.then is not None:
                    await asyncio.sleep(0.3)
                    # Corked, the bytes leave with the FIN in one segment.
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    writer.write(self.then)
                    await writer.drain()
                writer.close()
                return
            await reader.read()  # until the proxy gives up
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


# ---------------------------------------------------------------- raw HTTP

def upgrade_request(path="/", host="example.test", extra=(), key="dGhlIHNhbXBsZSBub25jZQ==", version="13"):
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def raw_exchange(port, data, timeout=10.0, ssl_context=None, server_hostname="localhost"):
    """Sends raw bytes, returns everything read until the server closes (or
    resets) the connection, or just the head of a 101 (the WebSocket then
    stays open until this returns and closes it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_context,
                                                   server_hostname=server_hostname if ssl_context else None)
    received = bytearray()

    async def read_all():
        while chunk := await reader.read(65536):
            received.extend(chunk)
            if received.startswith(b"HTTP/1.1 101 ") and b"\r\n\r\n" in received:
                return

    try:
        writer.write(data)
        await writer.drain()
        await asyncio.wait_for(read_all(), timeout)
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
    return bytes(received)


def status_of(response):
    """The status code of a raw HTTP response."""
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    if not match:
        raise AssertionError(f"not an HTTP response: {response[:200]!r}")
    return int(match.group(1))


async def echo_roundtrip(url, message="still alive", **kwargs):
    """Opens a WebSocket, sends one message, returns the echo."""
    async with websockets.connect(url, open_timeout=10, **kwargs) as ws:
        await ws.send(message)
        return await asyncio.wait_for(ws.recv(), 10)


# ---------------------------------------------------------------- running

class _Result(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cases = []  # (test id, seconds, failure text or None)
        self._started = {}

    def startTest(self, test):
        self._started[test.id()] = time.monotonic()
        super().startTest(test)

    def _record(self, test, failure):
        elapsed = time.monotonic() - self._started.get(test.id(), time.monotonic())
        self.cases.append((test.id(), elapsed, failure))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, None)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, self._exc_info_to_string(err, test))

    def addSubTest(self, test, subtest, err):
        # A failed subtest fails its test, which then reports no outcome of
        # its own: record the subtest.
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._record(subtest, self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        # A skipped case has not shown anything: it counts as failed.
        super().addSkip(test, reason)
        self._record(test, "skipped: " + reason)


def _write_junit(path, cases):
    suite = ET.Element("testsuite", name=os.path.basename(sys.argv[0]), tests=str(len(cases)),
                       failures=str(sum(1 for c in cases if c[2])))
    for test_id, seconds, failure in cases:
        classname, _, name = test_id.rpartition(".")
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
        if failure:
            ET.SubElement(case, "failure", message=failure.splitlines()[-1][:200]).text = failure
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main():
    """Runs the calling module's tests; argv[1] is the wsproxy binary."""
    global WSPROXY
    if len(sys.argv) < 2:
        sys.exit("usage: TEST.py PATH_TO_WSPROXY [unittest args]")
    WSPROXY = os.path.abspath(sys.argv[1])
    module = sys.modules["__main__"]
    names = sys.argv[2:]
    loader = unittest.defaultTestLoader
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_Result, stream=sys.stdout)
    result = runner.run(suite)
    if os.environ.get("XML_OUTPUT_FILE"):
        _write_junit(os.environ["XML_OUTPUT_FILE"], result.cases)
    ok = result.wasSuccessful() and not result.skipped and result.testsRun > 0
    sys.exit(0 if ok else 1)
