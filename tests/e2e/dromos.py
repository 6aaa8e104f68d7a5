"""Drive the real appliance processes from end-to-end tests.

`Appliance` writes a dromos.conf and a root key into a private directory,
starts dromosd (which execs dromos-broker), and talks HTTP to the broker
over its unix socket.  Everything it starts it stops, also on failure.
"""
import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DROMOS_BUILD", os.path.join(REPO, "build"))
BIN = os.path.join(BUILD, "bin")


def is_root():
    return os.geteuid() == 0


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over an AF_UNIX stream socket."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def wait_for(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def proc_status(pid):
    """/proc/PID/status as a dict of field -> value string."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def sealed_ad(purpose, table, row, column, version):
    """The associated data of a sealed value (priv/aead.h)."""
    out = b"DRM\x01"
    for f in (purpose, table, row, column):
        f = f.encode()
        out += struct.pack(">H", len(f)) + f
    return out + struct.pack(">I", version)


def open_sealed(key, blob, purpose, table, row, column):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    assert blob[:4] == b"DRM\x01"
    version = struct.unpack(">I", blob[4:8])[0]
    nonce, ct = blob[8:20], blob[20:]
    return version, AESGCM(key).decrypt(nonce, ct, sealed_ad(purpose, table, row, column, version))


def keyring_keys(root, blob):
    """Every data key in a sealed keyring blob (priv/keyring.h layout)."""
    _, plain = open_sealed(root, blob, "keyring", "keyring", "root", "blob")
    assert plain[:5] == b"DRKR\x01"
    count = struct.unpack(">H", plain[17:19])[0]
    keys, off = [], 19
    for _ in range(count):
        keys.append(plain[off + 20:off + 52])
        off += 52
    assert off == len(plain)
    return keys


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                   "AddressSanitizer:DEADLYSIGNAL")


def check_sanitizers(name, text):
    """A daemon built with ASan+UBSan (make check's second e2e pass) that
    reported anything fails the test that ran it, even if the report came
    at shutdown where no request would have seen it."""
    bad = [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKS)]
    if bad:
        raise AssertionError(f"{name}: sanitizer report:\n" + text[-6000:])


def stop_daemon(d, name):
    """SIGTERM (SIGKILL after 10 s) to d.proc, close d.logf, and fail on a
    sanitizer report in d's log; d.proc's exit status."""
    if d.proc and d.proc.poll() is None:
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait()
    if d.logf:
        d.logf.close()
        d.logf = None
    check_sanitizers(name, d.logtext())
    return d.proc.returncode if d.proc else None


class Appliance:
    """dromosd + dromos-broker with a test configuration."""

    def __init__(self, dsn, broker=None, extra_conf="", rootkey=None, tmp=None):
        self.dir = tmp or tempfile.mkdtemp(prefix="dromos-e2e-")
        os.chmod(self.dir, 0o755)
        self.run = os.path.join(self.dir, "run")
        os.makedirs(self.run, exist_ok=True)
        os.chmod(self.run, 0o755)
        self.sock = os.path.join(self.run, "broker.sock")
        self.admin = os.path.join(self.run, "admin.sock")
        self.audit = os.path.join(self.dir, "audit.log")
        self.conf = os.path.join(self.dir, "dromos.conf")
        self.log = os.path.join(self.dir, "dromosd.log")
        self.key = rootkey or os.path.join(self.dir, "root.key")
        self.broker = broker or os.path.join(BIN, "dromos-broker")
        self.proc = None
        self.logf = None
        self.dsn = dsn
        if rootkey is None and not os.path.exists(self.key):
            subprocess.run([os.path.join(BIN, "dromosctl"), "key", "init", self.key],
                           check=True)
        self.write_conf(dsn, extra_conf)

    def write_conf(self, dsn, extra=""):
        keyline = extra if "root key" in extra else f'root key file "{self.key}"\n' + extra
        text = (f'listen "{self.sock}"\n'
                f'admin socket "{self.admin}"\n'
                f'database "{dsn}"\n'
                f'audit log "{self.audit}"\n'
                f'broker path "{self.broker}"\n'
                f'{keyline}\n')
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def start(self, wait=True, args=()):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "dromosd"), "-d", "-v", "-f", self.conf, *args],
            stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            wait_for(self.ready, 15, "broker health")
        return self

    def broker_pid(self):
        kids = children(self.proc.pid)
        return kids[0] if kids else None

    def request(self, method, path, body=None, headers=None):
        c = UnixHTTPConnection(self.sock)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        st, hd, data = self.request(method, path, body, headers)
        return st, (json.loads(data) if data else None)

    def ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"dromosd exited {self.proc.returncode}:\n{self.logtext()}")
        if not os.path.exists(self.sock):
            return False
        try:
            st, _, _ = self.request("GET", "/health")
            return st == 200
        except OSError:
            return False

    def data_keys(self):
        """The data keys of the keyring the broker stored in PostgreSQL,
        opened here with the root key (DESIGN §4 formats)."""
        import psycopg2
        conn = psycopg2.connect(self.dsn)
        try:
            cur = conn.cursor()
            cur.execute("SELECT blob FROM keyring WHERE id = 1")
            blob = bytes(cur.fetchone()[0])
        finally:
            conn.close()
        return keyring_keys(self.rootkey_bytes(), blob)

    def rootkey_bytes(self):
        with open(self.key, "rb") as f:
            raw = f.read().strip()
        return bytes.fromhex(raw.decode())

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_exit(self, timeout=10):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        return stop_daemon(self, "dromosd/dromos-broker")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@contextlib.contextmanager
def brokers_on_one_database(pg, db, n=2):
    """n appliances (dromosd + broker each) on a fresh database db, sharing
    one root key, as several brokers of one deployment would."""
    import psycopg2
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin.cursor().execute(f'CREATE DATABASE "{db}"')
    apps = []
    try:
        for i in range(n):
            a = Appliance(pg.dsn(db), rootkey=apps[0].key if apps else None)
            apps.append(a)
            a.start()
        yield apps
    finally:
        for a in reversed(apps):
            a.stop()
            shutil.rmtree(a.dir, ignore_errors=True)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()


@contextlib.contextmanager
def started_appliance(dsn):
    """An appliance on dsn, started; stopped and its directory removed
    afterwards."""
    a = Appliance(dsn)
    try:
        a.start()
        yield a
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)


@contextlib.contextmanager
def appliance_on(pg, db):
    """One appliance on a fresh database db, dropped afterwards."""
    with brokers_on_one_database(pg, db, 1) as apps:
        yield apps[0]



def dromosctl(app, *args, stdin=None, rc=0):
    """dromosctl on app's admin socket; its standard output."""
    r = subprocess.run([os.path.join(BIN, "dromosctl"), "-s", app.admin, *args],
                       capture_output=True, text=True, input=stdin)
    assert r.returncode == rc, f"dromosctl {args}: {r.returncode} {r.stdout}{r.stderr}"
    return r.stdout


def api(app, method, path, token, body=None):
    """One request to app's internal socket as a client: (status, JSON)."""
    h = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, _, raw = app.request(method, path, data, h)
    return st, (json.loads(raw) if raw else None)
