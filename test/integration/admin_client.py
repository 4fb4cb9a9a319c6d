"""Clients for wsproxy's admin API in tests, built from independent tools:
Python stubs generated at run time by python3-grpc-tools from api/ (the
admin service) and from Debian's grpc-proto (reflection, health), the way
grpcurl would talk to the server; and buf curl, which needs no .proto
files at all (it uses server reflection)."""

import os
import shutil
import subprocess
import sys
import tempfile

import grpc

from harness import REPO, tmpdir

_generated = None


def _generate():
    """Generates and imports the stubs once per test process."""
    global _generated
    if _generated:
        return _generated
    out = tmpdir()
    # Debian's reflection and health protos live under grpc/, the name of
    # the installed grpc package: copied to other folders, their modules do
    # not collide with it (the services' full names stay the same).
    protos = os.path.join(out, "protos")
    for folder, source in (("wsreflection", "/usr/share/grpc-proto/grpc/reflection/v1alpha/reflection.proto"),
                           ("wshealth", "/usr/share/grpc-proto/grpc/health/v1/health.proto")):
        os.makedirs(os.path.join(protos, folder))
        shutil.copy(source, os.path.join(protos, folder))
    for include, proto in ((os.path.join(REPO, "api"), "wsproxy/admin/v1/admin.proto"),
                           (protos, "wsreflection/reflection.proto"), (protos, "wshealth/health.proto")):
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{include}", "-I/usr/include",
                        f"--python_out={out}", f"--grpc_python_out={out}", os.path.join(include, proto)],
                       check=True, capture_output=True)
    sys.path.insert(0, out)
    from wsproxy.admin.v1 import admin_pb2, admin_pb2_grpc  # noqa: E402
    from wsreflection import reflection_pb2, reflection_pb2_grpc  # noqa: E402
    from wshealth import health_pb2, health_pb2_grpc  # noqa: E402
    _generated = {"admin_pb2": admin_pb2, "admin_pb2_grpc": admin_pb2_grpc, "reflection_pb2": reflection_pb2,
                  "reflection_pb2_grpc": reflection_pb2_grpc, "health_pb2": health_pb2,
                  "health_pb2_grpc": health_pb2_grpc}
    return _generated


class Admin:
    """A channel to one wsproxy's admin port, with the stubs attached."""

    def __init__(self, port, token=None):
        g = _generate()
        self.pb = g["admin_pb2"]
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = g["admin_pb2_grpc"].AdminServiceStub(self.channel)
        self.reflection = g["reflection_pb2_grpc"].ServerReflectionStub(self.channel)
        self.reflection_pb2 = g["reflection_pb2"]
        self.health = g["health_pb2_grpc"].HealthStub(self.channel)
        self.health_pb2 = g["health_pb2"]
        self.metadata = [("authorization", f"Bearer {token}")] if token else None

    def call(self, method, request=None, timeout=30, **fields):
        """Calls AdminService.<method> with a request built from `fields`."""
        rpc = getattr(self.stub, method)
        if request is None:
            request = getattr(self.pb, method + "Request")(**fields)
        return rpc(request, timeout=timeout, metadata=self.metadata)

    def stats(self, name_regex=""):
        """{name: value} of counters and gauges, and {name: histogram}."""
        s = self.call("GetStats", name_regex=name_regex).stats
        values = {c.name: c.value for c in s.counters}
        values.update({g.name: g.value for g in s.gauges})
        return values, {h.name: h for h in s.histograms}

    def reflect(self, **request):
        """One ServerReflectionInfo exchange, as `grpcurl list/describe` does."""
        message = self.reflection_pb2.ServerReflectionRequest(**request)
        return next(iter(self.reflection.ServerReflectionInfo(iter([message]), timeout=30)))

    def close(self):
        self.channel.close()


def buf_binary():
    """buf from tools/node_modules (tools/install_deps.sh installs it)."""
    here = os.path.realpath(os.path.abspath(__file__))
    workspace = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    candidate = os.path.join(workspace, "tools", "node_modules", ".bin", "buf")
    found = candidate if os.path.exists(candidate) else shutil.which("buf")
    if not found:
        raise AssertionError("buf is not installed: run bash tools/install_deps.sh")
    return found


def buf_curl(port, method=None, data="{}", list_services=False):
    """Runs `buf curl` against the admin port, listing services or calling
    `method` ("wsproxy.admin.v1.AdminService/GetServerInfo") with the JSON
    `data`. Returns (exit code, output)."""
    url = f"http://127.0.0.1:{port}"
    command = [buf_binary(), "curl", "--protocol", "grpc", "--http2-prior-knowledge"]
    if list_services:
        command += ["--list-services", url]
    else:
        command += ["-d", data, f"{url}/{method}"]
    home = tempfile.mkdtemp(dir=tmpdir())  # buf keeps a cache under $HOME
    result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, HOME=home, XDG_CACHE_HOME=home))
    return result.returncode, result.stdout + result.stderr
