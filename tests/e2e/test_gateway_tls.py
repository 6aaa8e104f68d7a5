"""dromos-gateway in front of a broker on another host: `broker tls` in
gateway.conf, TCP and mutual TLS 1.3 to the broker's TLS listener.

The broker is peers/tlsbroker.py, a real HTTP/1.1 server over TLS 1.3 only
that requires a client certificate of the test CA, as dromos-broker's
`listen tls` does, and which the tests can steer and count; and, at the
end, the real dromosd and dromos-broker with `listen tls`.  Certificates
come from tlsca.TestCA; a second CA is the stranger whose certificates
nobody trusts.

What is checked: requests reach the broker and its answers come back
(bearer token and request id forwarded, bodies of many records both ways);
kept-alive connections are reused; the broker closing idle connections and
going away cost nothing but the requests made while it is away (503);
certificates that do not verify (the broker's: wrong CA, wrong name or
address, revoked by the CRL of `crl`; ours: refused by the broker) end in
503 and one warning that says why; `dromos-gateway -n` refuses bad broker
statements and files (CRLs expired or of another CA among them).
The gateway runs as it does in production here: it drops to its user and
loads its seccomp filter, so every system call of the TLS path is allowed
by the gateway's policy or the test dies with it.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

from dromos import REPO, Appliance, dromosctl, proc_status, wait_for
from gateway import GATEWAY, Gateway, key_needles
from test_keyholder import _memory_contains
from tlsca import TestCA, install_crl

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peers", "tlsbroker.py")
TOKEN = "dro_PLANTEDgatewaytls0123456789"
NO_LIMITS = ("rate limit client off\n"
             "rate limit connection off\n"
             "rate limit refresh off\n")


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bracket(host):
    return f"[{host}]" if ":" in host else host


class TLSBroker:
    """peers/tlsbroker.py in a process of its own; its control API."""

    def __init__(self, directory, crt, key, ca, host="127.0.0.1", port=None):
        self.dir = directory
        self.crt, self.key, self.ca = crt, key, ca
        self.host = host
        self.port = port or free_port(host)
        self.proc = None
        self.ctl = None
        self.log = os.path.join(directory, f"tlsbroker-{self.port}.log")

    @property
    def hostport(self):
        return f"{bracket(self.host)}:{self.port}"

    def start(self):
        pf = os.path.join(self.dir, f"tlsbroker-{self.port}.ctl")
        if os.path.exists(pf):
            os.unlink(pf)
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", PEER, "--listen", self.hostport, "--cert", self.crt,
             "--key", self.key, "--ca", self.ca, "--control-port-file", pf],
            stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(pf):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("tlsbroker did not start:\n" + self.logtext())
            time.sleep(0.05)
        with open(pf) as f:
            self.ctl = int(f.read())
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        if self.proc:
            self.logf.close()
        self.proc = None

    def logtext(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def _call(self, method, path, doc=None):
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.ctl}{path}", data=data,
                                     method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stats(self):
        return self._call("GET", "/_stats")

    def control(self, **switches):
        return self._call("POST", "/_control", switches)

    def reset(self):
        return self._call("POST", "/_reset", {})


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="dromos-gwtls-")
    os.chmod(d, 0o755)
    ca = TestCA(d, "ca")
    stranger = TestCA(d, "stranger")
    p = {
        "dir": d,
        "ca": ca.crt,
        "stranger_ca": stranger.crt,
        "broker": ca.issue("broker", sans=("DNS:localhost", "DNS:broker.test",
                                           "IP:127.0.0.1", "IP:::1")),
        "broker_other": ca.issue("broker-other", sans=("DNS:other.test",)),
        "broker_stranger": stranger.issue("broker"),
        "gw": ca.issue("gw", server=False),
        "gw_stranger": stranger.issue("gw", server=False),
        "gw_expired": ca.issue("gw-expired", server=False, days=-1),
    }
    # CRLs: of the CA, revoking the broker's certificate or another one;
    # expired; of the stranger CA.
    p["crl_broker"] = ca.crl(revoked=(p["broker"][0],), name="crl-broker")
    p["crl_other"] = ca.crl(revoked=(p["broker_other"][0],), name="crl-other")
    p["crl_expired"] = ca.crl(name="crl-expired", expired=True)
    p["crl_stranger"] = stranger.crl(name="crl-stranger")
    yield p
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def broker(pki):
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    yield b
    b.stop()


def broker_stmt(hostport, ca, cert_key, name=None, crl=None):
    s = f'broker tls "{hostport}" ca "{ca}" certificate "{cert_key[0]}" key "{cert_key[1]}"'
    return s + (f' name "{name}"' if name else "") + (f' crl "{crl}"' if crl else "")


def gateway(pki, hostport, ca=None, client=None, name=None, extra="", crl=None):
    return Gateway(None, tls=False, broker=broker_stmt(
        hostport, ca or pki["ca"], client or pki["gw"], name, crl),
        extra=NO_LIMITS + extra)


@pytest.fixture(scope="module")
def gw(pki, broker):
    g = gateway(pki, broker.hostport, extra="threads 2\n")
    g.start()
    try:
        yield g
    finally:
        g.cleanup()


def call(gw, method, path, body=None, token=TOKEN, rid=None):
    h = {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if rid:
        h["X-Request-Id"] = rid
    if body is not None:
        h["Content-Type"] = "application/json"
        body = json.dumps(body)
    st, hd, raw = gw.request(method, path, body, h)
    return st, hd, raw


def warnings(gw, what):
    return [ln for ln in gw.logtext().splitlines() if "TLS" in ln and what in ln]


def test_requests_reach_the_broker(gw, broker):
    broker.reset()
    st, hd, raw = call(gw, "GET", "/v1/ready", token=None)
    assert st == 200, raw
    assert json.loads(raw) == {"status": "ready"}

    st, hd, raw = call(gw, "GET", "/v1/token/acme-1", rid="rid-tls-1")
    assert st == 200, raw
    assert json.loads(raw)["access_token"] == "at-acme-1"
    last = broker.stats()["last"]
    assert last["path"] == "/token/acme-1"
    assert last["authorization"] == f"Bearer {TOKEN}"
    assert last["request_id"] == "rid-tls-1"
    assert gw.request("GET", "/v1/token/acme-1")[0] == 401

    # An answer of many TLS records.
    st, hd, raw = call(gw, "GET", "/v1/token/big")
    assert st == 200
    assert len(raw) == 300 * 1024 + len('{"blob":""}')

    # A body of many records (the gateway's limit is 64 KiB).
    doc = {"provider": "acme", "name": "x" * 60000}
    st, hd, raw = call(gw, "POST", "/v1/connections", body=doc)
    assert st == 201, raw
    answer = json.loads(raw)
    assert answer["echo"] == doc
    assert answer["length"] == len(json.dumps(doc))

    # All of it under the gateway's own user and seccomp filter.
    status = proc_status(gw.proc.pid)
    assert status["Seccomp"] == "2"
    assert gw.proc.poll() is None
    assert TOKEN not in gw.logtext()
    assert not warnings(gw, "")


def test_keepalive_reuse(pki, broker):
    """Many requests, few connections: one pool per event loop."""
    gw = gateway(pki, broker.hostport, extra="threads 2\n")
    try:
        gw.start()
        broker.reset()
        for i in range(60):
            assert call(gw, "GET", f"/v1/token/k{i}")[0] == 200
        s = broker.stats()
        assert s["requests"] == 60
        assert 1 <= s["connections"] <= 2, s
        assert s["handshakes"] == s["connections"]
        concurrent(gw, broker)
    finally:
        gw.cleanup()


def concurrent(gw, broker):

    # Concurrent clients: more connections at once, still reused.
    broker.reset()
    errors = []

    def client(n):
        for i in range(15):
            st = call(gw, "GET", f"/v1/token/c{n}-{i}")[0]
            if st != 200:
                errors.append(st)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    s = broker.stats()
    assert s["requests"] == 90
    assert s["connections"] <= 12, s
    assert s["refused"] == 0


def test_broker_closes_idle_connections(pki, broker):
    """Each request finds its pooled connection closed by the broker."""
    broker.reset()
    broker.control(idle_close=0.5)
    gw = gateway(pki, broker.hostport, extra="threads 1\n")
    try:
        gw.start()
        assert call(gw, "GET", "/v1/token/idle-0")[0] == 200
        wait_for(lambda: broker.stats()["idle_closed"] >= 1, 10, "an idle close")
        for i in range(5):
            time.sleep(0.2)
            assert call(gw, "GET", f"/v1/token/idle-{i}")[0] == 200
            time.sleep(0.7)
        # A request that is not idempotent checks its connection first.
        assert call(gw, "POST", "/v1/connections", body={"provider": "acme"})[0] == 201
        s = broker.stats()
        assert s["connections"] == 7, s
        assert s["idle_closed"] >= 6, s
        assert s["requests"] == 7
    finally:
        broker.control(idle_close=0)
        gw.cleanup()


def test_broker_down_then_back(pki):
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    g = gateway(pki, b.hostport, extra="broker timeout 5\n")
    try:
        g.start()
        assert call(g, "GET", "/v1/token/d1")[0] == 200
        b.stop()
        for i in range(3):
            st, hd, raw = call(g, "GET", "/v1/token/d2")
            assert st == 503, raw
            assert json.loads(raw)["type"] == "urn:dromos:problem:upstream-unavailable"
        b.start()
        wait_for(lambda: call(g, "GET", "/v1/token/d3")[0] == 200, 10, "recovery")
        for i in range(5):
            assert call(g, "GET", f"/v1/token/d4-{i}")[0] == 200
        assert b.stats()["connections"] == 1
    finally:
        g.cleanup()
        b.stop()


def refused(g, what, n=6):
    """n requests, each 503; the one warning that says why."""
    g.start()
    for i in range(n):
        st, hd, raw = call(g, "GET", f"/v1/token/r{i}")
        assert st == 503, raw
        assert json.loads(raw)["type"] == "urn:dromos:problem:upstream-unavailable"
    time.sleep(0.3)
    lines = warnings(g, what)
    assert len(lines) == 1, g.logtext()
    assert len(warnings(g, "")) == 1, g.logtext()
    assert g.proc.poll() is None
    return lines[0]


def test_broker_cert_from_another_ca(pki):
    """The broker's certificate does not chain to the configured CA."""
    b = TLSBroker(pki["dir"], *pki["broker_stranger"], pki["ca"]).start()
    g = gateway(pki, b.hostport)
    try:
        line = refused(g, "handshake failed: certificate verify failed")
        assert "self-signed certificate in certificate chain" in line or \
            "unable to get local issuer certificate" in line, line
        assert b.stats()["handshakes"] == 0
    finally:
        g.cleanup()
        b.stop()


def test_broker_cert_for_another_name(pki):
    b = TLSBroker(pki["dir"], *pki["broker_other"], pki["ca"]).start()
    g = gateway(pki, b.hostport)
    try:
        # The default name is the address: it must be in subjectAltName.
        line = refused(g, "certificate verify failed")
        assert "IP address mismatch" in line, line
    finally:
        g.cleanup()
    # A configured name the certificate does not carry.
    b2 = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    g = gateway(pki, b2.hostport, name="other.test")
    try:
        line = refused(g, "certificate verify failed")
        assert "hostname mismatch" in line, line
    finally:
        g.cleanup()
        b.stop()
        b2.stop()


def test_named_broker(pki):
    """A configured name the certificate carries; a host given by name."""
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    g = gateway(pki, b.hostport, name="broker.test")
    try:
        g.start()
        assert call(g, "GET", "/v1/token/n1")[0] == 200
    finally:
        g.cleanup()
        b.stop()
    # "localhost": the peer listens where the resolver's first answer is.
    first = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)[0][4][0]
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"], host=first).start()
    g = gateway(pki, f"localhost:{b.port}")
    try:
        g.start()
        assert call(g, "GET", "/v1/token/n2")[0] == 200
        assert f"broker=localhost:{b.port}" in g.logtext()
    finally:
        g.cleanup()
        b.stop()


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_broker(pki):
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"], host="::1").start()
    g = gateway(pki, b.hostport)
    try:
        g.start()
        assert call(g, "GET", "/v1/token/v6")[0] == 200
        assert b.stats()["handshakes"] == 1
    finally:
        g.cleanup()
        b.stop()


def test_gateway_cert_refused(pki):
    """Our certificate is a stranger's: the broker refuses the handshake."""
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    g = gateway(pki, b.hostport, client=pki["gw_stranger"])
    try:
        line = refused(g, "before any answer")
        assert "alert" in line, line
        s = b.stats()
        assert s["handshakes"] == 0
        assert s["refused"] >= 1
        assert "certificate verify failed" in s["last_refusal"]
    finally:
        g.cleanup()
        b.stop()


def test_broker_cert_revoked(pki):
    """The CRL of the CA revokes the broker's certificate: no handshake
    completes, each request is 503, and the warning says it is revoked."""
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    g = gateway(pki, b.hostport, crl=pki["crl_broker"])
    try:
        line = refused(g, "handshake failed: certificate verify failed")
        assert "certificate revoked" in line, line
        assert b.stats()["handshakes"] == 0
    finally:
        g.cleanup()
        b.stop()


def test_no_crl_of_the_brokers_issuer(pki):
    """Both CAs trusted, a CRL of the other one only: fail closed."""
    both = os.path.join(pki["dir"], "both-cas.pem")
    with open(both, "w") as out:
        for path in (pki["ca"], pki["stranger_ca"]):
            with open(path) as f:
                out.write(f.read())
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    g = gateway(pki, b.hostport, ca=both, crl=pki["crl_stranger"])
    try:
        line = refused(g, "handshake failed: certificate verify failed")
        assert "unable to get certificate CRL" in line, line
    finally:
        g.cleanup()
        b.stop()


def test_crl_revoking_another_cert(pki):
    """A CRL that revokes another certificate: the broker's passes."""
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    g = gateway(pki, b.hostport, crl=pki["crl_other"], name="broker.test")
    try:
        g.start()
        for i in range(5):
            assert call(g, "GET", f"/v1/token/crl{i}")[0] == 200
        assert b.stats()["handshakes"] == 1
        assert not warnings(g, "")
    finally:
        g.cleanup()
        b.stop()


def test_crl_reloaded_when_its_file_changes(pki):
    """A new list in the CRL file is taken by the next handshake, while
    the gateway runs; a list that must not be taken is refused, and the
    one in use stays.  The broker closes idle connections, so that each
    request makes a handshake."""
    live = os.path.join(pki["dir"], "crl-reload.pem")


    def status():
        time.sleep(0.3)         # past the broker's idle close
        return call(g, "GET", "/v1/token/reload")[0]

    install_crl(pki["crl_other"], live)
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    b.control(idle_close=0.1)
    g = gateway(pki, b.hostport, crl=live, name="broker.test")
    try:
        g.start()
        assert status() == 200
        # The CA revokes the broker's certificate.
        install_crl(pki["crl_broker"], live)
        wait_for(lambda: status() == 503, 10, "the new list in force")
        assert f"broker tls: crl {live} reloaded" in g.logtext()
        assert any("certificate revoked" in ln for ln in warnings(g, "verify failed"))
        # Another CA's list, an expired one: refused, the list in use stays.
        for bad, why in ((pki["crl_stranger"], "is not signed by a certificate of"),
                         (pki["crl_expired"], "has expired")):
            install_crl(bad, live)
            wait_for(lambda: status() == 503 and
                     "crl changed but is refused" in g.logtext() and
                     why in g.logtext().split("crl changed but is refused")[-1],
                     10, f"the refusal ({why})")
        # A list that revokes another certificate lets the broker in again.
        install_crl(pki["crl_other"], live)
        wait_for(lambda: status() == 200, 10, "the last list in force")
    finally:
        g.cleanup()
        b.stop()


def test_crl_change_ends_pooled_connections(pki):
    """A connection in the pool was verified against the lists in force
    at its handshake: once the CRL file has changed, it is not used again,
    and the next request's new handshake meets the new list."""
    live = os.path.join(pki["dir"], "crl-pooled.pem")


    install_crl(pki["crl_other"], live)
    b = TLSBroker(pki["dir"], *pki["broker"], pki["ca"]).start()
    g = gateway(pki, b.hostport, crl=live, name="broker.test")
    try:
        g.start()
        for _ in range(3):
            assert call(g, "GET", "/v1/token/pooled")[0] == 200
        assert b.stats()["handshakes"] == 1, "not kept alive"
        install_crl(pki["crl_broker"], live)
        time.sleep(1.1)         # the file is looked at once a second
        assert call(g, "GET", "/v1/token/pooled")[0] == 503
        assert f"broker tls: crl {live} reloaded" in g.logtext()
        assert any("certificate revoked" in ln for ln in warnings(g, "verify failed"))
    finally:
        g.cleanup()
        b.stop()


def test_warnings_are_rate_limited(pki):
    """A broken broker makes one warning per ten seconds, with a count."""
    b = TLSBroker(pki["dir"], *pki["broker_other"], pki["ca"]).start()
    g = gateway(pki, b.hostport)
    try:
        refused(g, "IP address mismatch", n=20)
        time.sleep(10.2)
        assert call(g, "GET", "/v1/token/again")[0] == 503
        time.sleep(0.3)
        lines = warnings(g, "IP address mismatch")
        assert len(lines) == 2, g.logtext()
        assert "(and 19 more like it since the last warning)" in lines[1], lines[1]
    finally:
        g.cleanup()
        b.stop()


# dromos-gateway -n


def check(conf_text, directory):
    path = os.path.join(directory, "check.conf")
    with open(path, "w") as f:
        f.write('listen "127.0.0.1:1"\ntls off\n' + conf_text)
    r = subprocess.run([GATEWAY, "-n", "-f", path], capture_output=True, text=True)
    return r.returncode, r.stderr.strip(), path


def test_check_accepts_a_good_statement(pki):
    rc, err, _ = check(broker_stmt("127.0.0.1:9443", pki["ca"], pki["gw"]) + "\n", pki["dir"])
    assert (rc, err) == (0, "configuration OK")
    rc, err, _ = check(broker_stmt("[::1]:9443", pki["ca"], pki["gw"], "broker.test") + "\n",
                       pki["dir"])
    assert (rc, err) == (0, "configuration OK")


def test_check_refuses(pki):
    d = pki["dir"]
    ca, gw, gx = pki["ca"], pki["gw"], pki["gw_stranger"]
    loose = os.path.join(d, "loose.key")
    shutil.copy(gw[1], loose)
    group = os.path.join(d, "group.key")
    shutil.copy(gw[1], group)
    os.chmod(loose, 0o644)
    os.chmod(group, 0o640)
    bad = os.path.join(d, "bad.pem")
    with open(ca) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(text[:200] + "\n-----END CERTIFICATE-----\n")
    stmt = broker_stmt("127.0.0.1:9443", ca, gw)
    cases = [
        # (statements, what stderr must hold)
        (f'broker socket "/run/b.sock"\n{stmt}\n',
         'check.conf:4: "broker socket" and "broker tls" exclude each other'),
        (f'{stmt}\nbroker socket "/run/b.sock"\n',
         'check.conf:4: "broker socket" and "broker tls" exclude each other'),
        ('broker tls "127.0.0.1" ca "/a" certificate "/b" key "/c"\n',
         'check.conf:3: "broker tls": expected "host:port"'),
        (broker_stmt("127.0.0.1:9443", os.path.join(d, "none.pem"), gw) + "\n",
         f'check.conf:3: "broker tls": {d}/none.pem: No such file or directory'),
        (broker_stmt("127.0.0.1:9443", ca, (os.path.join(d, "none.crt"), gw[1])) + "\n",
         f"{d}/none.crt: No such file or directory"),
        (broker_stmt("127.0.0.1:9443", ca, (gw[0], os.path.join(d, "none.key"))) + "\n",
         f"{d}/none.key: No such file or directory"),
        (broker_stmt("127.0.0.1:9443", bad, gw) + "\n", f"{bad}: a malformed certificate"),
        (broker_stmt("127.0.0.1:9443", ca, (bad, gw[1])) + "\n", f"{bad}: no certificate"),
        (broker_stmt("127.0.0.1:9443", gw[1], gw) + "\n", f"{gw[1]}: no certificate"),
        (broker_stmt("127.0.0.1:9443", ca, (gw[0], gx[1])) + "\n",
         f"{gx[1]}: not the key of the certificate"),
        (broker_stmt("127.0.0.1:9443", ca, (gw[0], loose)) + "\n",
         f"{loose}: mode 0644 lets group or others in (chmod 600 it)"),
        (broker_stmt("127.0.0.1:9443", ca, (gw[0], group)) + "\n",
         f"{group}: mode 0640 lets group or others in"),
        (broker_stmt("127.0.0.1:9443", ca, pki["gw_expired"]) + "\n",
         f'{pki["gw_expired"][0]}: the certificate has expired'),
        (broker_stmt("no-such-host.invalid:9443", ca, gw) + "\n",
         'check.conf:3: "broker tls": no-such-host.invalid:9443: cannot resolve'),
    ]
    for text, want in cases:
        rc, err, _ = check(text, d)
        assert rc == 1, (text, err)
        assert want in err, (text, err)
        assert "configuration OK" not in err


def test_check_crl(pki):
    """-n reads and checks the CRL file as at start; -n -v prints it."""
    d, ca, gw = pki["dir"], pki["ca"], pki["gw"]
    stmt = broker_stmt("127.0.0.1:9443", ca, gw, crl=pki["crl_other"])
    rc, err, path = check(stmt + "\n", d)
    assert (rc, err) == (0, "configuration OK")
    r = subprocess.run([GATEWAY, "-n", "-v", "-f", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f'crl "{pki["crl_other"]}"' in r.stdout, r.stdout
    # What -v printed reads back.
    again = os.path.join(d, "again.conf")
    with open(again, "w") as f:
        f.write(r.stdout)
    r2 = subprocess.run([GATEWAY, "-n", "-v", "-f", again], capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == r.stdout

    expired, stranger = pki["crl_expired"], pki["crl_stranger"]
    cases = [
        (expired, f'check.conf:3: "broker tls": {expired}: the CRL of '
                  f'/CN=Dromos test ca has expired'),
        (stranger, f'check.conf:3: "broker tls": {stranger}: the CRL of '
                   f'/CN=Dromos test stranger is not signed by a certificate of {ca}'),
        (os.path.join(d, "none.crl"), f"{d}/none.crl: No such file or directory"),
        (ca, f"{ca}: no CRL"),
    ]
    for crl, want in cases:
        rc, err, _ = check(broker_stmt("127.0.0.1:9443", ca, gw, crl=crl) + "\n", d)
        assert rc == 1, (crl, err)
        assert want in err, (crl, err)
        assert "configuration OK" not in err
    # A CRL of the stranger is good when the stranger is the CA.
    rc, err, _ = check(broker_stmt("127.0.0.1:9443", pki["stranger_ca"], pki["gw_stranger"],
                                   crl=stranger) + "\n", d)
    assert (rc, err) == (0, "configuration OK")


def test_start_refuses_an_expired_crl(pki):
    g = Gateway(None, tls=False, broker=broker_stmt("127.0.0.1:9443", pki["ca"], pki["gw"],
                                                    crl=pki["crl_expired"]))
    try:
        g.start(wait=False)
        assert g.proc.wait(timeout=10) != 0
        assert f'{pki["crl_expired"]}: the CRL of /CN=Dromos test ca has expired' in \
            g.logtext()
    finally:
        g.cleanup()


def test_start_refuses_what_check_refuses(pki):
    """The same checks at start: the gateway does not serve."""
    loose = os.path.join(pki["dir"], "loose2.key")
    shutil.copy(pki["gw"][1], loose)
    os.chmod(loose, 0o644)
    g = Gateway(None, tls=False, broker=broker_stmt("127.0.0.1:9443", pki["ca"],
                                                    (pki["gw"][0], loose)))
    try:
        g.start(wait=False)
        assert g.proc.wait(timeout=10) != 0
        assert "lets group or others in" in g.logtext()
    finally:
        g.cleanup()


# The real broker: dromosd and dromos-broker with "listen tls".

OPENAI_KEY = "sk-PLANTEDgwtlsreal0123456789abcdef"


@pytest.fixture(scope="module")
def real(pg, pki):
    import psycopg2
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    admin.cursor().execute('DROP DATABASE IF EXISTS "gateway_tls"')
    admin.cursor().execute('CREATE DATABASE "gateway_tls"')
    port = free_port()
    crt, key = pki["broker"]
    a = Appliance(pg.dsn("gateway_tls"), extra_conf=(
        f'listen tls "127.0.0.1:{port}" certificate "{crt}" key "{key}" '
        f'client ca "{pki["ca"]}"\n'))
    a.tls_port = port
    a.start()
    try:
        wait_for(lambda: "api over TLS" in a.logtext(), 10, "the TLS listener")
        dromosctl(a, "provider", "add", os.path.join(REPO, "etc", "providers", "openai.json"))
        a.token = dromosctl(a, "client", "add", "gw-over-tls",
                            "--scope", "connections:write:gwtls-*",
                            "--scope", "token:read:gwtls-*").strip()
        yield a
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)
        admin.cursor().execute('DROP DATABASE IF EXISTS "gateway_tls" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def real_gw(pki, real):
    g = gateway(pki, f"127.0.0.1:{real.tls_port}", extra="threads 2\n")
    g.start()
    try:
        yield g
    finally:
        g.cleanup()


def tcp_peers(pid, port):
    """The established TCP connections of process pid to port.  A daemon is
    not dumpable, so its /proc/PID/fd is root's: another user counts every
    established connection to port instead (in these tests the gateway is
    the broker's only TLS client)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except PermissionError:
        inodes = None
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                rport = int(cols[2].rsplit(":", 1)[1], 16)
                if rport == port and cols[3] == "01" and \
                        (inodes is None or cols[9] in inodes):
                    n += 1
    return n


def test_real_broker(real, real_gw):
    """A credential captured and read back through the gateway, over
    mutual TLS to the broker, on kept-alive connections."""
    st, hd, raw = call(real_gw, "GET", "/v1/ready", token=None)
    assert st == 200, raw
    assert json.loads(raw)["database"] == "ok"
    st, hd, raw = call(real_gw, "POST", "/v1/connections", token=real.token, body={
        "provider": "openai", "connection": "gwtls-one", "owner": "gwtls",
        "credentials": {"api_key": OPENAI_KEY}})
    assert st == 201, raw
    for i in range(40):
        st, hd, raw = call(real_gw, "GET", "/v1/token/gwtls-one", token=real.token,
                           rid=f"gwtls-read-{i}")
        assert st == 200, raw
        assert json.loads(raw)["credentials"]["key"] == OPENAI_KEY
    assert call(real_gw, "GET", "/v1/token/gwtls-one", token=None)[0] == 401
    # At most a connection per event loop, kept.
    assert 1 <= tcp_peers(real_gw.proc.pid, real.tls_port) <= 2
    line = wait_for(lambda: [ln for ln in real.logtext().splitlines()
                             if "request_id=gwtls-read-7" in ln], 5, "the broker's log line")
    assert "server=api-tls" in line[0] and "status=200" in line[0], line
    assert proc_status(real_gw.proc.pid)["Seccomp"] == "2"
    assert not warnings(real_gw, "")


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="the memory of a daemon, not dumpable, is root's to read")
def test_real_broker_leaves_no_secret_in_gateway_memory(pki, real, real_gw):
    """Neither the client's bearer token nor the credential the broker
    answered stays in the gateway's memory once the answers are sent; nor
    the text of the gateway's TLS client key, or a DER copy of it.  (The
    copies OpenSSL's decoder frees at start are likely reused by then
    whether wiped or not: tests/common/test_osslmem.c shows they are.)"""
    for i in range(5):
        assert call(real_gw, "GET", "/v1/token/gwtls-one", token=real.token)[0] == 200
    time.sleep(0.5)
    needles = {"bearer token": real.token.encode(), "credential": OPENAI_KEY.encode()}
    needles.update(key_needles(pki["gw"][1]))
    assert _memory_contains(real_gw.proc.pid, needles) == set()
    # The scan sees what is there: this process has them all.
    assert _memory_contains(os.getpid(), needles) == set(needles)


def test_real_broker_crl(pki, real):
    """The real broker's certificate: refused once revoked, taken while the
    CRL revokes another one."""
    g = gateway(pki, f"127.0.0.1:{real.tls_port}", crl=pki["crl_other"])
    try:
        g.start()
        st, hd, raw = call(g, "GET", "/v1/ready", token=None)
        assert st == 200, raw
        assert json.loads(raw)["database"] == "ok"
        assert not warnings(g, "")
    finally:
        g.cleanup()
    g = gateway(pki, f"127.0.0.1:{real.tls_port}", crl=pki["crl_broker"])
    try:
        line = refused(g, "handshake failed: certificate verify failed")
        assert "certificate revoked" in line, line
    finally:
        g.cleanup()


def test_real_broker_restart(real, real_gw):
    """The broker restarts: its connections are gone, the gateway's pool
    follows, and requests work again as soon as it is back."""
    assert call(real_gw, "GET", "/v1/ready", token=None)[0] == 200
    real.stop()
    assert call(real_gw, "GET", "/v1/ready", token=None)[0] == 503
    real.start()
    wait_for(lambda: call(real_gw, "GET", "/v1/ready", token=None)[0] == 200, 20,
             "the broker back")
    assert call(real_gw, "GET", "/v1/token/gwtls-one", token=real.token)[0] == 200
