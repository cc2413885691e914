"""A registry that requires credentials, for the docker login and
private-image tests: Debian's docker-registry with htpasswd (bcrypt) auth
on 127.0.0.1, its own storage, seeded with skopeo from the test bed's
registry. Usable as a module (AuthRegistry) or by hand:

    python3 tests/e2e/authreg.py up DIR PORT BED_REGISTRY   # prints user:pass
    python3 tests/e2e/authreg.py down DIR
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # libxcrypt's bcrypt ($2b$): what htpasswd auth reads

USER = "skuser"
PASSWORD = "sk-secret-pw"
REPO = "private/busybox"


def _bcrypt(pw):
    return crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))


class AuthRegistry:
    def __init__(self, dir, port, bed_registry):
        self.dir = os.path.abspath(dir)
        self.port = int(port)
        self.bed = bed_registry
        self.host = f"127.0.0.1:{self.port}"
        self.user, self.password = USER, PASSWORD
        self.image = f"{self.host}/{REPO}:latest"

    def _answers(self):
        req = urllib.request.Request(f"http://{self.host}/v2/")
        try:
            urllib.request.urlopen(req, timeout=3)
            return 200
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    def up(self, seed=True):
        os.makedirs(os.path.join(self.dir, "storage"), exist_ok=True)
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            f.write(f"{self.user}:{_bcrypt(self.password)}\n")
        with open(os.path.join(self.dir, "registry.yml"), "w") as f:
            f.write(f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {self.dir}/storage
  delete:
    enabled: true
auth:
  htpasswd:
    realm: sockerless-test
    path: {self.dir}/htpasswd
http:
  addr: {self.host}
""")
        if self._answers() != 0:
            raise RuntimeError(f"{self.host} is already taken")
        log = open(os.path.join(self.dir, "registry.log"), "ab")
        p = subprocess.Popen(["docker-registry", "serve", os.path.join(self.dir, "registry.yml")],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        with open(os.path.join(self.dir, "registry.pid"), "w") as f:
            f.write(str(p.pid))
        for _ in range(100):
            if self._answers() == 401:
                break
            time.sleep(0.1)
        else:
            self.down()
            raise RuntimeError(f"the authenticated registry did not come up on {self.host}")
        if not seed:
            return self
        subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                        "--dest-tls-verify=false",
                        "--dest-creds", f"{self.user}:{self.password}",
                        f"docker://{self.bed}/library/busybox:latest",
                        f"docker://{self.image}"],
                       check=True, timeout=120, capture_output=True)
        self._make_distinct()
        return self

    def _req(self, method, path, data=None, headers=None):
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req = urllib.request.Request(f"http://{self.host}{path}", data=data, method=method,
                                     headers=dict(headers or {},
                                                  Authorization="Basic " + token))
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read(), resp.headers

    def _make_distinct(self):
        """A config of its own (a label added), so the private image has
        an id no bed image has: a backend that knows busybox by that id
        must never pick this registry for another test's busybox."""
        mt = "application/vnd.docker.distribution.manifest.v2+json"
        raw, hdrs = self._req("GET", f"/v2/{REPO}/manifests/latest", headers={"Accept": mt})
        manifest = json.loads(raw)
        cfg_raw, _ = self._req("GET", f"/v2/{REPO}/blobs/{manifest['config']['digest']}")
        cfg = json.loads(cfg_raw)
        cfg.setdefault("config", {}).setdefault("Labels", {})
        cfg["config"]["Labels"] = dict(cfg["config"]["Labels"] or {}, **{"sk.private": "1"})
        new = json.dumps(cfg, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(new).hexdigest()
        _, h = self._req("POST", f"/v2/{REPO}/blobs/uploads/", data=b"")
        loc = h["Location"]
        if loc.startswith("http"):
            loc = "/" + loc.split("/", 3)[3]
        sep = "&" if "?" in loc else "?"
        self._req("PUT", f"{loc}{sep}digest={digest}", data=new,
                  headers={"Content-Type": "application/octet-stream"})
        manifest["config"]["digest"] = digest
        manifest["config"]["size"] = len(new)
        self._req("PUT", f"/v2/{REPO}/manifests/latest",
                  data=json.dumps(manifest).encode(),
                  headers={"Content-Type": manifest.get("mediaType", mt)})

    def set_password(self, password):
        """The registry again, now with another password (a rotated
        credential); the images stay."""
        self._stop()
        self.password = password
        return self.up(seed=False)

    def down(self):
        self._stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stop(self):
        pidf = os.path.join(self.dir, "registry.pid")
        if os.path.exists(pidf):
            with open(pidf) as f:
                pid = int(f.read().strip() or 0)
            if pid > 0:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                for _ in range(50):
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.1)
            os.unlink(pidf)


def bed_registry():
    """The test bed's registry host:port (SK_REGISTRY, else the bed.env of
    SK_RUN_DIR), or None."""
    reg = os.environ.get("SK_REGISTRY")
    run = os.environ.get("SK_RUN_DIR")
    env = os.path.join(run, "bed", "bed.env") if run else None
    if not reg and env and os.path.exists(env):
        with open(env) as f:
            for line in f:
                line = line.strip().removeprefix("export ")
                if line.startswith("SK_REGISTRY="):
                    reg = line.split("=", 1)[1].strip().strip("'\"")
    return reg or None


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "up":
        r = AuthRegistry(sys.argv[2], sys.argv[3], sys.argv[4]).up()
        print(f"{r.user}:{r.password} {r.image}")
    elif len(sys.argv) == 3 and sys.argv[1] == "down":
        AuthRegistry(sys.argv[2], 1, "").down()
    else:
        sys.exit(__doc__)
