"""Remote access as dockerd does it (issue 17): the frontend's listen list
(hosts: unix://, tcp://, fd://), TLS with client certificates for the
docker CLI (DOCKER_TLS_VERIFY, docker context) and docker-py, refused
handshakes, -n, systemd socket activation, and the backend down: 503 with
a sentence on _ping and on forwarded calls, back by itself.

Each test starts its own frontend in front of the stack's backend
($SK_RUN_DIR/backend.sock), from $SK_BUILD. Ports: SK_TEST_PORT_BASE +
120..124. Certificates are made by `openssl` in the test."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from e2e_lib import BUSYBOX, DOCKER, PORT_BASE, RUN_LABEL, TARGET, wait_for

RUN = os.environ.get("SK_RUN_DIR", "")
BUILD = os.environ.get("SK_BUILD", "build")
FRONTEND = os.path.abspath(os.path.join(BUILD, "sockerless-frontend"))
BACKEND_SOCK = os.path.join(RUN, "backend.sock")

pytestmark = pytest.mark.skipif(
    TARGET != "sockerless" or not RUN or not os.path.exists(BACKEND_SOCK),
    reason="needs the sockerless stack's run directory (SK_RUN_DIR) and SK_BUILD")

P_TLS, P_TLS2, P_FD, P_PLAIN = (PORT_BASE + 120 + i for i in range(4))


def _ossl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _cert(d, ca, name, cn, ext):
    _ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem",
          "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(ext)
    _ossl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
          f"{ca}-key.pem", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
          "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    for ca in ("ca", "otherca"):
        _ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}-key.pem",
              "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=sockerless test {ca}", cwd=d)
    _cert(d, "ca", "server", "localhost",
          "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _cert(d, "ca", "client", "client", "extendedKeyUsage=clientAuth\n")
    _cert(d, "otherca", "stranger", "stranger", "extendedKeyUsage=clientAuth\n")
    # DOCKER_CERT_PATH's layout: ca.pem, cert.pem, key.pem.
    cp = os.path.join(d, "docker")
    os.mkdir(cp)
    for src, dst in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"),
                     ("client-key.pem", "key.pem")):
        shutil.copy(os.path.join(d, src), os.path.join(cp, dst))
    return d


def _p(pki, name):
    return os.path.join(pki, name)


def _tls_flags(pki, verify=True):
    f = ["--tlscert", _p(pki, "server.pem"), "--tlskey", _p(pki, "server-key.pem")]
    if verify:
        f += ["--tlsverify", "--tlscacert", _p(pki, "ca.pem")]
    return f


class Frontend:
    def __init__(self, args, tmp, env=None, pass_fds=(), argv0=None):
        self.log = os.path.join(tmp, "frontend.log")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                (argv0 or []) + [FRONTEND, "--group", "", *args], stdout=out,
                stderr=subprocess.STDOUT, env=env, pass_fds=pass_fds)

    def text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # An ASan build (SK_BUILD=build-asan) reports leaks and errors at exit.
        assert "Sanitizer" not in self.text() and "runtime error" not in self.text(), self.text()


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def tls_frontend(pki, tmp_path):
    fe = Frontend(["--hosts", f"tcp://127.0.0.1:{P_TLS}", "--backend", BACKEND_SOCK,
                   *_tls_flags(pki)], str(tmp_path))
    wait_for(lambda: _port_open(P_TLS) or fe.proc.poll() is not None, timeout=30,
             what="the TLS frontend's port")
    assert fe.proc.poll() is None, fe.text()
    yield fe
    fe.stop()


def _docker(env_extra, *args, timeout=120, input=None):
    env = dict(os.environ)
    for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        env.pop(k, None)
    env.update(env_extra)
    return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, input=input)


def _tls_env(pki, tmp_path):
    return {"DOCKER_HOST": f"tcp://127.0.0.1:{P_TLS}", "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": _p(pki, "docker"),
            "DOCKER_CONFIG": str(tmp_path / "dockercfg")}


def test_cli_over_tls(pki, tls_frontend, tmp_path):
    env = _tls_env(pki, tmp_path)
    v = _docker(env, "version", "--format", "{{json .Server}}")
    assert v.returncode == 0, v.stderr
    assert json.loads(v.stdout)["ApiVersion"] == "1.44"
    r = _docker(env, "run", "--rm", "--label", RUN_LABEL, BUSYBOX, "echo", "hello-over-tls")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hello-over-tls"


def test_attach_and_exec_over_tls(pki, tls_frontend, tmp_path):
    env = _tls_env(pki, tmp_path)
    # Attach with stdin: the client's half-close must reach the container
    # through TLS, and its output come back before the stream ends.
    r = _docker(env, "run", "--rm", "-i", "--label", RUN_LABEL, BUSYBOX, "cat",
                input="through-tls-stdin\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "through-tls-stdin\n"
    name = f"skremote-{os.getpid()}"
    try:
        r = _docker(env, "run", "-d", "--name", name, "--label", RUN_LABEL, BUSYBOX,
                    "sleep", "300")
        assert r.returncode == 0, r.stderr
        r = _docker(env, "exec", name, "sh", "-c", "echo exec-over-tls")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "exec-over-tls"
        r = _docker(env, "exec", "-i", name, "cat", input="exec-stdin\n")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "exec-stdin\n"
    finally:
        _docker(env, "rm", "-f", name)


def test_docker_context(pki, tls_frontend, tmp_path):
    env = {"DOCKER_CONFIG": str(tmp_path / "dockercfg")}
    ctx = "sockerless-remote-test"
    r = _docker(env, "context", "create", ctx, "--docker",
                f"host=tcp://127.0.0.1:{P_TLS},ca={_p(pki, 'ca.pem')},"
                f"cert={_p(pki, 'client.pem')},key={_p(pki, 'client-key.pem')}")
    assert r.returncode == 0, r.stderr
    r = _docker(env, "--context", ctx, "ps", "--format", "{{.ID}}")
    assert r.returncode == 0, r.stderr
    r = _docker(env, "--context", ctx, "info", "--format", "{{.ServerVersion}}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() != ""


def _handshake_bytes(pki, cert=None):
    """Connects with TLS (the server's CA trusted) and the given client
    certificate, sends a request; returns what came back (b"" when the
    server refused), or raises the TLS error the client saw."""
    ctx = ssl.create_default_context(cafile=_p(pki, "ca.pem"))
    if cert is not None:
        ctx.load_cert_chain(_p(pki, f"{cert}.pem"), _p(pki, f"{cert}-key.pem"))
    got = b""
    with socket.create_connection(("127.0.0.1", P_TLS), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass
    return got


@pytest.mark.parametrize("cert", [None, "stranger"])
def test_bad_client_cert_refused(pki, tls_frontend, cert):
    assert _handshake_bytes(pki, cert) == b""
    assert b"HTTP/1.1 200" in _handshake_bytes(pki, "client")
    wait_for(lambda: "TLS connection from" in tls_frontend.text(), timeout=10,
             what="the refused handshake in the log")


def test_cli_without_cert_refused(pki, tls_frontend, tmp_path):
    env = {"DOCKER_HOST": f"tcp://127.0.0.1:{P_TLS}", "DOCKER_TLS": "1",
           "DOCKER_CONFIG": str(tmp_path / "cfg")}
    shutil.copytree(_p(pki, "docker"), tmp_path / "cfg")
    os.remove(tmp_path / "cfg" / "cert.pem")
    os.remove(tmp_path / "cfg" / "key.pem")
    env["DOCKER_CERT_PATH"] = str(tmp_path / "cfg")
    r = _docker(env, "ps", timeout=60)
    assert r.returncode != 0
    assert "CONTAINER ID" not in r.stdout


def test_dockerpy_tls(pki, tls_frontend, monkeypatch):
    docker = pytest.importorskip("docker")
    # requests prefers these to the verify docker-py sets (psf/requests#3829).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    tls = docker.tls.TLSConfig(client_cert=(_p(pki, "client.pem"), _p(pki, "client-key.pem")),
                               ca_cert=_p(pki, "ca.pem"), verify=True)
    c = docker.DockerClient(base_url=f"https://127.0.0.1:{P_TLS}", tls=tls, timeout=120)
    try:
        assert c.ping() is True
        out = c.containers.run(BUSYBOX, ["echo", "docker-py-tls"], remove=True,
                               labels={RUN_LABEL.split("=")[0]: RUN_LABEL.split("=")[1]})
        assert out.strip() == b"docker-py-tls"
    finally:
        c.close()


def _check(*args):
    return subprocess.run([FRONTEND, "-n", "--group", "", *args], capture_output=True,
                          text=True, timeout=30)


def test_check_refuses_what_would_fail(pki):
    r = _check("--hosts", "tcp://0.0.0.0:2375")
    assert r.returncode == 2 and "tlsverify" in r.stderr
    r = _check("--hosts", "tcp://0.0.0.0:2376", *_tls_flags(pki, verify=False))
    assert r.returncode == 2 and "tlsverify" in r.stderr
    r = _check("--hosts", "tcp://0.0.0.0:2376", "--tlscert", _p(pki, "server.pem"),
               "--tlskey", _p(pki, "client-key.pem"), "--tlsverify", "--tlscacert",
               _p(pki, "ca.pem"))
    assert r.returncode == 2 and "tlskey" in r.stderr
    r = _check("--hosts", "tcp://0.0.0.0:2376", "--tlsverify", "--tlscacert",
               _p(pki, "ca.pem"))
    assert r.returncode == 2 and "tlscert" in r.stderr
    r = _check("--hosts", "ftp://x")
    assert r.returncode == 2 and "unix:///path" in r.stderr
    r = _check("--hosts", "tcp://0.0.0.0:2376", *_tls_flags(pki))
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout
    # -H and a repeated --hosts gather, as dockerd's -H.
    r = _check("-H", "tcp://127.0.0.1:2375", "--hosts", "tcp://0.0.0.0:2376")
    assert r.returncode == 2 and "0.0.0.0" in r.stderr


def test_plain_tcp_loopback_warns(tmp_path):
    fe = Frontend(["--hosts", f"tcp://127.0.0.1:{P_PLAIN}", "--backend", BACKEND_SOCK],
                  str(tmp_path))
    try:
        wait_for(lambda: _port_open(P_PLAIN), timeout=30, what="the plain TCP port")
        assert "plain TCP without TLS" in fe.text()
        r = _docker({"DOCKER_HOST": f"tcp://127.0.0.1:{P_PLAIN}"}, "version",
                    "--format", "{{.Server.APIVersion}}")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "1.44"
    finally:
        fe.stop()


def test_fd_socket_activation(pki, tmp_path):
    """As systemd starts it: the listening socket at descriptor 3,
    LISTEN_PID the frontend's own pid (bash's $$ survives its exec),
    LISTEN_FDNAMES the socket unit's name; TLS applies to a passed TCP
    socket."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", P_FD))
    lsock.listen(16)
    fd = lsock.fileno()
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="docker")
    wrap = ["bash", "-c", f'exec 3<&{fd} {fd}<&-; LISTEN_PID=$$ exec "$0" "$@"']
    fe = Frontend(["--hosts", "fd://docker", "--backend", BACKEND_SOCK, *_tls_flags(pki)],
                  str(tmp_path), env=env, pass_fds=(fd,), argv0=wrap)
    lsock.close()
    try:
        wait_for(lambda: "serving the Docker API on fd://docker" in fe.text()
                 or fe.proc.poll() is not None, timeout=30, what="the frontend's start")
        assert fe.proc.poll() is None, fe.text()
        env = _tls_env(pki, tmp_path)
        env["DOCKER_HOST"] = f"tcp://127.0.0.1:{P_FD}"
        r = _docker(env, "version", "--format", "{{.Server.APIVersion}}")
        assert r.returncode == 0, r.stderr + fe.text()
        assert r.stdout.strip() == "1.44"
    finally:
        fe.stop()


def test_fd_missing_is_a_start_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    for flag in ("--hosts", "--listen"):
        r = subprocess.run([FRONTEND, "--group", "", flag, "fd://", "--backend", BACKEND_SOCK],
                           capture_output=True, text=True, timeout=30, cwd=tmp_path, env=env)
        assert r.returncode != 0
        assert "no sockets were passed" in r.stdout + r.stderr
        # The old --listen fd:// made a directory named "fd:".
        assert not os.path.exists(tmp_path / "fd:")
    r = subprocess.run([FRONTEND, "--group", "", "--hosts", "fd://other"],
                       capture_output=True, text=True, timeout=30, cwd=tmp_path,
                       env=dict(env, LISTEN_PID="1", LISTEN_FDS="1"))
    assert r.returncode != 0
    assert "not this one" in r.stdout + r.stderr


def _unix_get(path, target="/_ping"):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), body


def test_backend_down_then_back(tmp_path):
    """A frontend whose backend socket is missing answers 503 with a
    sentence naming it on _ping and on forwarded calls; `docker version`
    prints it; once the socket answers (a link to the stack's backend),
    everything is normal again without a restart."""
    sockdir = tmp_path / "b"
    sockdir.mkdir()
    backend = str(sockdir / "backend.sock")
    api = str(sockdir / "docker.sock")
    fe = Frontend(["--hosts", f"unix://{api}", "--backend", backend], str(tmp_path))
    try:
        wait_for(lambda: os.path.exists(api), timeout=30, what="the frontend's socket")
        status, head, body = _unix_get(api)
        assert status == 503
        assert "Api-Version: 1.44" in head
        msg = json.loads(body)["message"]
        assert backend in msg and "Start the backend" in msg
        status, _, body = _unix_get(api, "/v1.44/containers/json")
        assert status == 503 and backend in json.loads(body)["message"]
        r = _docker({"DOCKER_HOST": f"unix://{api}"}, "version")
        assert r.returncode != 0
        assert "cannot reach the sockerless backend" in r.stderr
        r = _docker({"DOCKER_HOST": f"unix://{api}"}, "info")
        assert "cannot reach the sockerless backend" in r.stdout + r.stderr
        os.symlink(BACKEND_SOCK, backend)
        status, _, body = _unix_get(api)
        assert (status, body) == (200, b"OK")
        r = _docker({"DOCKER_HOST": f"unix://{api}"}, "ps")
        assert r.returncode == 0, r.stderr
    finally:
        fe.stop()


def test_unix_socket_mode(tmp_path):
    api = str(tmp_path / "docker.sock")
    fe = Frontend(["--hosts", f"unix://{api}", "--backend", BACKEND_SOCK], str(tmp_path))
    try:
        wait_for(lambda: os.path.exists(api), timeout=30, what="the frontend's socket")
        assert os.stat(api).st_mode & 0o777 == 0o660
    finally:
        fe.stop()
    r = subprocess.run([FRONTEND, "-n", "--group", "no-such-group-sk", "--hosts",
                        f"unix://{api}"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "groupadd" in r.stderr


P_INTERNAL = PORT_BASE + 124
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _restart_backend(extra_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCKERLESS_INTERNAL_")}
    env.update(extra_env, SK_RUN=RUN, BUILD=os.path.abspath(BUILD))
    r = subprocess.run([os.path.join(ROOT, "deploy", "local.sh"), "restart-backend"],
                       env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def tcp_backend(pki):
    """The stack's backend restarted with the internal API on TCP too
    (TLS and a bearer token, set through the environment), and restarted
    without it afterwards."""
    token = _p(pki, "token")
    with open(token, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    _restart_backend({"SOCKERLESS_INTERNAL_TCP": f"127.0.0.1:{P_INTERNAL}",
                      "SOCKERLESS_INTERNAL_TLSCERT": _p(pki, "server.pem"),
                      "SOCKERLESS_INTERNAL_TLSKEY": _p(pki, "server-key.pem"),
                      "SOCKERLESS_INTERNAL_TOKEN_FILE": token})
    try:
        yield token
    finally:
        _restart_backend({})


def _internal_get(pki, path, token=None):
    ctx = ssl.create_default_context(cafile=_p(pki, "ca.pem"))
    with socket.create_connection(("127.0.0.1", P_INTERNAL), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            auth = f"Authorization: Bearer {token}\r\n" if token else ""
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n{auth}\r\n"
                      .encode())
            data = b""
            while True:
                try:
                    c = s.recv(65536)
                except ssl.SSLError:
                    break
                if not c:
                    break
                data += c
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_internal_api_over_tcp_tls_token(pki, tcp_backend, tmp_path):
    with open(tcp_backend) as f:
        token = f.read().strip()
    # The backend itself: no token or a wrong one is 401 with a sentence.
    status, body = _internal_get(pki, "/internal/v1/_ping")
    assert status == 401 and "internal_token_file" in json.loads(body)["message"]
    status, _ = _internal_get(pki, "/internal/v1/_ping", token="0" * 64)
    assert status == 401
    assert _internal_get(pki, "/internal/v1/_ping", token=token) == (200, b"OK")
    # A frontend reaching it over TCP: pings, runs, attaches and execs.
    api = str(tmp_path / "docker.sock")
    fe = Frontend(["--hosts", f"unix://{api}", "--backend", f"tcp://127.0.0.1:{P_INTERNAL}",
                   "--backend_tlscacert", _p(pki, "ca.pem"), "--backend_token_file",
                   tcp_backend], str(tmp_path))
    try:
        wait_for(lambda: os.path.exists(api), timeout=30, what="the frontend's socket")
        assert _unix_get(api)[0] == 200
        env = {"DOCKER_HOST": f"unix://{api}"}
        r = _docker(env, "run", "--rm", "-i", "--label", RUN_LABEL, BUSYBOX, "cat",
                    input="over-internal-tcp\n")
        assert r.returncode == 0, r.stderr + fe.text()
        assert r.stdout == "over-internal-tcp\n"
    finally:
        fe.stop()
    # The wrong token, and a CA that did not sign the backend's
    # certificate: 503 with the reason, nothing served.
    bad = str(tmp_path / "bad-token")
    with open(bad, "w") as f:
        f.write("1" * 64)
    for extra, want in ((["--backend_tlscacert", _p(pki, "ca.pem"), "--backend_token_file", bad],
                         "token"),
                        (["--backend_tlscacert", _p(pki, "otherca.pem"),
                          "--backend_token_file", tcp_backend], "certificate verify failed")):
        fe = Frontend(["--hosts", f"unix://{api}", "--backend",
                       f"tcp://127.0.0.1:{P_INTERNAL}", *extra], str(tmp_path))
        try:
            wait_for(lambda: os.path.exists(api), timeout=30, what="the frontend's socket")
            status, _, body = _unix_get(api)
            assert status == 503 and want in json.loads(body)["message"]
            r = _docker({"DOCKER_HOST": f"unix://{api}"}, "ps")
            assert r.returncode != 0 and want in r.stderr
        finally:
            fe.stop()


def test_internal_tcp_needs_tls_and_token(pki):
    r = subprocess.run([FRONTEND, "-n", "--group", "", "--backend", "tcp://127.0.0.1:1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "backend_tlscacert" in r.stderr
