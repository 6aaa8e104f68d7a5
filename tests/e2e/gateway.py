"""Start dromos-gateway in front of an `Appliance` for end-to-end tests.

`Gateway` writes a gateway.conf into a private directory (with a
self-signed certificate made by the openssl CLI unless TLS is off), starts
dromos-gateway in the foreground, and talks HTTPS to it: through
http.client for ordinary requests, and through a raw TLS socket for the
hostile ones http.client refuses to send.  Everything it starts it stops.
"""
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

from dromos import BIN, stop_daemon, wait_for

# DROMOS_GATEWAY runs another build of the gateway (an ASan one) in front
# of the appliance of DROMOS_BUILD.
GATEWAY = os.environ.get("DROMOS_GATEWAY", os.path.join(BIN, "dromos-gateway"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(directory):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost."""
    crt = os.path.join(directory, "gw.crt")
    key = os.path.join(directory, "gw.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    os.chmod(key, 0o600)
    return crt, key


class Gateway:
    """dromos-gateway with a test configuration, in front of app.

    broker: a whole "broker ..." statement (a "broker tls" one) instead of
    the app's unix socket; app may then be None.  port: another gateway's,
    to share its address.
    """

    def __init__(self, app, tls=True, extra="", metrics=True, client_timeout=30,
                 broker=None, port=None):
        self.app = app
        self.dir = tempfile.mkdtemp(prefix="dromos-gw-")
        os.chmod(self.dir, 0o755)
        self.port = port or free_port()
        self.metrics_port = free_port() if metrics else None
        self.tls = tls
        self.conf = os.path.join(self.dir, "gateway.conf")
        self.log = os.path.join(self.dir, "gateway.log")
        self.proc = None
        self.logf = None
        if tls:
            self.cert, self.key = make_cert(self.dir)
        lines = [f'listen "127.0.0.1:{self.port}"']
        lines.append(f'tls certificate "{self.cert}" key "{self.key}"' if tls else "tls off")
        lines.append(broker or f'broker socket "{app.sock}"')
        if metrics:
            lines.append(f'metrics listen "127.0.0.1:{self.metrics_port}"')
        lines.append(f"client timeout {client_timeout}")
        self.write_conf("\n".join(lines) + "\n" + extra)

    def write_conf(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([GATEWAY, "-d", "-v", "-f", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            wait_for(self.live, 10, "gateway health")
        return self

    def live(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"dromos-gateway exited {self.proc.returncode}:\n{self.logtext()}")
        try:
            return self.request("GET", "/v1/health")[0] == 200
        except OSError:
            return False

    def context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        return ctx

    def connection(self, timeout=10):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        """(status, headers (case-insensitive), body bytes)."""
        c = self.connection()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.headers, r.read()
        finally:
            c.close()

    def sock(self, timeout=10):
        """A connected socket (TLS when configured) for raw requests."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.tls:
            s = self.context().wrap_socket(s, server_hostname="127.0.0.1")
        return s

    def raw(self, data, timeout=10):
        """Send bytes as they are; (status or None, the whole answer)."""
        s = self.sock(timeout)
        try:
            s.sendall(data)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, ssl.SSLError):
                    break
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out:
                    head, _, rest = out.partition(b"\r\n\r\n")
                    cl = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                    if cl and len(rest) >= int(cl[0].split(b":")[1]):
                        break
        except socket.timeout:
            pass
        finally:
            s.close()
        status = None
        if out.startswith(b"HTTP/1."):
            status = int(out.split(b" ", 2)[1])
        return status, out

    def metrics(self):
        c = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=10)
        try:
            c.request("GET", "/metrics")
            r = c.getresponse()
            return r.status, r.getheader("Content-Type"), r.read().decode()
        finally:
            c.close()

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        return stop_daemon(self, "dromos-gateway")

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def _lines(text, prefix, request_id):
    want = f" request_id={request_id}"
    return [ln for ln in text.splitlines()
            if ln.startswith(prefix) and (want + " " in ln or ln.endswith(want))]


def broker_lines(app, request_id):
    """The broker's access-log lines (one per request) for a request id."""
    return _lines(app.logtext(), "broker: request ", request_id)


def gateway_lines(gw, request_id):
    """The gateway's access-log lines for a request id."""
    return _lines(gw.logtext(), "gateway: request ", request_id)


def settle(seconds=0.2):
    """Let both daemons write their log lines."""
    time.sleep(seconds)


def key_needles(path):
    """What of a private key must not linger: its scalar as DER holds it
    (the key OpenSSL uses keeps it as a BIGNUM, in another byte order),
    and its PEM text, line breaks in or out."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    with open(path, "rb") as f:
        pem = f.read()
    scalar = load_pem_private_key(pem, None).private_numbers().private_value
    body = [ln for ln in pem.splitlines() if ln and not ln.startswith(b"-----")]
    needles = {"key scalar": scalar.to_bytes(32, "big")}
    for i in range(len(body) - 1):
        needles[f"key lines {i}-{i + 1}"] = body[i] + b"\n" + body[i + 1]
        needles[f"key lines {i}-{i + 1} joined"] = body[i][-24:] + body[i + 1][:24]
    return needles
