"""The broker's internal API over TCP and mutual TLS ("listen tls" in
dromos.conf), for gateways on other hosts: real dromosd and broker,
certificates from a throwaway CA, clients made with Python's ssl module.

Only a client whose certificate the configured client CA signed, valid now
and for client authentication, gets an HTTP answer; anyone else fails the
TLS 1.3 handshake and is answered nothing."""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from dromos import BIN, REPO, Appliance, dromosctl, proc_status, wait_for
from gateway import free_port
from test_keyholder import _memory_contains
from tlsca import TestCA, install_crl

OPENAI_KEY = "sk-PLANTEDoverTLS0123456789abcdef"
OPENAI_PAYLOAD = {"key": OPENAI_KEY, "in": "header", "name": "Authorization",
                  "prefix": "Bearer "}


@pytest.fixture(scope="module")
def pki():
    """The deployment's CA (broker certificate, gateway client certificate,
    an expired client certificate), and a stranger CA."""
    d = tempfile.mkdtemp(prefix="dromos-tls-")
    os.chmod(d, 0o755)
    ca = TestCA(d, "ca")
    other = TestCA(d, "other")
    p = {
        "dir": d,
        "ca": ca.crt,
        "server": ca.issue("broker", sans=("DNS:localhost", "IP:127.0.0.1", "IP:::1")),
        "client": ca.issue("gateway", server=False),
        "expired": ca.issue("old-gateway", server=False, days=-1),
        # Signed by the right CA, but for servers only (no clientAuth).
        "server-as-client": ca.issue("not-a-client"),
        "stranger": other.issue("gateway", server=False),
        "revoked": ca.issue("revoked-gateway", server=False),
    }
    p["issuer"] = ca
    p["crl"] = ca.crl([p["revoked"][0]])
    p["crl-other-ca"] = other.crl([p["revoked"][0]], name="crl")
    p["crl-expired"] = ca.crl(name="old-crl", expired=True)
    yield p
    shutil.rmtree(d, ignore_errors=True)


def tls_conf(pki, port, host="127.0.0.1"):
    crt, key = pki["server"]
    return (f'listen tls "{host}:{port}" certificate "{crt}" key "{key}" '
            f'client ca "{pki["ca"]}"\n')


@pytest.fixture(scope="module")
def app(pg, pki):
    import psycopg2
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    admin.cursor().execute('DROP DATABASE IF EXISTS "broker_tls"')
    admin.cursor().execute('CREATE DATABASE "broker_tls"')
    port = free_port()
    a = Appliance(pg.dsn("broker_tls"), extra_conf=tls_conf(pki, port))
    a.tls_port = port
    a.start()
    try:
        wait_for(lambda: "api over TLS" in a.logtext(), 10, "the TLS listener")
        yield a
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)
        admin.cursor().execute('DROP DATABASE IF EXISTS "broker_tls" WITH (FORCE)')
        admin.close()


def context(pki, cert="client", maximum=None):
    """A client's TLS context: it checks the broker's certificate against
    the deployment's CA and presents cert (a key of pki, or None)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki["ca"])
    ctx.check_hostname = True
    if cert is not None:
        ctx.load_cert_chain(*pki[cert])
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def tls_request(app, ctx, method, path, body=None, headers=None):
    """One request on a new connection: (status, headers, body bytes)."""
    c = http.client.HTTPSConnection("127.0.0.1", app.tls_port, context=ctx, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def tls_call(app, pki, method, path, token=None, body=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, hd, raw = tls_request(app, context(pki), method, path, data, h)
    return st, hd, (json.loads(raw) if raw else None)


def refused(app, ctx):
    """The exception a client got instead of an HTTP answer.  In TLS 1.3
    the client finishes its side of the handshake before the broker has
    judged its certificate, so the refusal (an alert, then the close) may
    come on the first read rather than in the handshake."""
    try:
        st, _, _ = tls_request(app, ctx, "GET", "/ready")
    except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError) as e:
        # Closed on us (an alert, a reset, or a close before any answer),
        # not left waiting.
        assert not isinstance(e, TimeoutError), e
        assert isinstance(e, (ssl.SSLError, ConnectionError,
                              http.client.RemoteDisconnected)), repr(e)
        return e
    raise AssertionError(f"the broker answered HTTP {st}")


def test_listener_logged(app):
    text = app.logtext()
    assert text.count("api over TLS") == 1
    assert f"api over TLS 1.3 on 127.0.0.1:{app.tls_port}" in text
    assert f"tls=127.0.0.1:{app.tls_port}" in text


def test_ready_over_tls(app, pki):
    st, hd, doc = tls_call(app, pki, "GET", "/ready")
    assert st == 200, doc
    # Served from inside the broker's seccomp filter (enforcing, except in
    # the sanitizer pass, which logs instead).
    assert proc_status(app.broker_pid())["Seccomp"] == "2"
    assert doc == {"status": "ready", "database": "ok", "keyholder": "ok"}
    assert len(hd["X-Request-Id"]) == 24


def test_token_over_tls(app, pki):
    """A credential captured and read back over TLS, as a gateway on
    another host would, with the same request ids and access log as on
    the unix socket."""
    dromosctl(app, "provider", "add", os.path.join(REPO, "etc", "providers", "openai.json"))
    token = dromosctl(app, "client", "add", "gw-remote", "--scope", "connections:write:tls-*",
                      "--scope", "token:read:tls-*").strip()
    assert token.startswith("dro_")
    st, _, view = tls_call(app, pki, "POST", "/connections", token,
                           {"provider": "openai", "connection": "tls-one", "owner": "tls",
                            "credentials": {"api_key": OPENAI_KEY}})
    assert st == 201, view
    st, hd, p = tls_call(app, pki, "GET", "/token/tls-one", token,
                         headers={"X-Request-Id": "tls-read-1"})
    assert st == 200, p
    assert p["credentials"] == OPENAI_PAYLOAD
    assert hd["X-Request-Id"] == "tls-read-1"
    # The same answer on the unix socket.
    st, _, raw = app.request("GET", "/token/tls-one", headers={"Authorization": f"Bearer {token}"})
    assert st == 200 and json.loads(raw)["credentials"] == OPENAI_PAYLOAD
    # No token, no credential: the API's own checks apply over TLS too.
    assert tls_call(app, pki, "GET", "/token/tls-one")[0] == 401
    line = wait_for(lambda: [l for l in app.logtext().splitlines()
                             if "request_id=tls-read-1" in l], 5, "the access log line")
    assert "server=api-tls" in line[0] and "route=/token/{}" in line[0] and "status=200" in line[0]

    import psycopg2

    def logged():
        conn = psycopg2.connect(app.dsn)
        try:
            cur = conn.cursor()
            cur.execute("SELECT outcome FROM access_log WHERE connection = 'tls-one'"
                        " AND operation = 'token' AND request_id = 'tls-read-1'")
            return cur.fetchall()
        finally:
            conn.close()
    assert wait_for(logged, 5, "the access_log row") == [("ok",)]


def test_no_client_certificate(app, pki):
    refused(app, context(pki, cert=None))
    wait_for(lambda: "refused: no client certificate" in app.logtext(), 5,
             "the refusal in the log")


@pytest.mark.parametrize("cert,reason", [
    ("stranger", "issuer is unknown"),
    ("expired", "expired"),
    ("server-as-client", "purpose"),
])
def test_wrong_client_certificate(app, pki, cert, reason):
    before = app.logtext().count("refused:")
    refused(app, context(pki, cert=cert))

    def logged():
        lines = [l for l in app.logtext().splitlines() if "refused:" in l]
        return lines[before:] if len(lines) > before else None
    lines = wait_for(logged, 5, "the refusal in the log")
    assert reason in " ".join(lines).lower(), lines


def test_tls12_refused(app, pki):
    with pytest.raises(ssl.SSLError):
        tls_request(app, context(pki, maximum=ssl.TLSVersion.TLSv1_2), "GET", "/ready")


def test_plain_http_gets_no_answer(app):
    s = socket.create_connection(("127.0.0.1", app.tls_port), timeout=10)
    try:
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: broker\r\nConnection: close\r\n\r\n")
        got = b""
        while True:
            try:
                b = s.recv(4096)
            except (ConnectionError, socket.timeout):
                break
            if not b:
                break
            got += b
    finally:
        s.close()
    assert b"HTTP/" not in got and b"ready" not in got, got


def test_still_serving_after_refusals(app, pki):
    """Refused handshakes leave the workers serving."""
    for _ in range(3):
        refused(app, context(pki, cert="stranger"))
        assert tls_call(app, pki, "GET", "/health")[0] == 200
    assert app.request("GET", "/health")[0] == 200


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="the memory of a daemon, not dumpable, is root's to read")
def test_no_key_text_in_broker_memory(app, pki):
    """The PEM text of the private key, as the broker read it, is wiped once
    GnuTLS has parsed it.  The needles are consecutive lines of the key's
    base64 with the line break between them: GnuTLS 3.7 leaves a copy of
    the base64 without line breaks (and the DER it decodes) in memory it
    frees without wiping, which no caller of MHD_OPTION_HTTPS_MEM_KEY can
    reach; the parsed key itself must stay in memory to be used."""
    assert tls_call(app, pki, "GET", "/health")[0] == 200
    with open(pki["server"][1]) as f:
        body = [l for l in f.read().splitlines() if l and not l.startswith("-----")]
    needles = {f"key lines {i}-{i + 1}": (body[i] + "\n" + body[i + 1]).encode()
               for i in range(len(body) - 1)}
    assert needles
    assert _memory_contains(app.broker_pid(), needles) == set()
    # The scan sees what is there: our own copy of the key's text.
    text = open(pki["server"][1], "rb").read()
    assert _memory_contains(os.getpid(), needles) != set(), len(text)


def test_zz_no_secret_in_logs(app, pki):
    """Runs last in this module: every log the appliance wrote so far."""
    app.stop()
    texts = [app.logtext()]
    with open(app.audit, errors="replace") as f:
        texts.append(f.read())
    with open(pki["server"][1]) as f:
        keylines = [l for l in f.read().splitlines() if l and not l.startswith("-----")]
    for t in texts:
        assert OPENAI_KEY not in t
        assert "dro_" not in t
        for l in keylines:
            assert l not in t
    # Nothing MHD said about the refused handshakes above is a warning
    # of its own; ours name the client.
    assert "received handshake message out of context" not in \
        "\n".join(l for l in texts[0].splitlines() if "warn" in l)
    app.start()


def test_ipv6_listener(pg, pki, pgdb):
    if not socket.has_ipv6:
        pytest.fail("no IPv6 on this machine")
    port = free_port()
    a = Appliance(pgdb, extra_conf=tls_conf(pki, port, host="[::1]"))
    try:
        a.start()
        c = http.client.HTTPSConnection("::1", port, context=context(pki), timeout=10)
        c.request("GET", "/ready")
        r = c.getresponse()
        assert r.status == 200, r.read()
        c.close()
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)


def test_refusals_are_throttled(pki, pgdb):
    """Anyone who reaches the port can be refused at will: ten warnings,
    then one a second, and the next one written counts those left out."""
    port = free_port()
    a = Appliance(pgdb, extra_conf=tls_conf(pki, port))
    a.tls_port = port
    try:
        a.start()
        wait_for(lambda: "api over TLS" in a.logtext(), 10, "the TLS listener")
        t0 = time.monotonic()
        for _ in range(30):
            refused(a, context(pki, cert="stranger"))
        elapsed = time.monotonic() - t0

        def lines():
            return [l for l in a.logtext().splitlines() if "refused:" in l]
        wait_for(lambda: len(lines()) >= 10, 5, "the first ten warnings")
        time.sleep(0.3)
        burst = lines()
        # Ten at once, and at most one more per second the loop took.
        assert 10 <= len(burst) <= 10 + int(elapsed) + 1, (elapsed, burst)
        assert not any("more like it" in l for l in burst[:10]), burst
        time.sleep(1.2)
        refused(a, context(pki, cert="stranger"))
        last = wait_for(lambda: lines()[len(burst):] or None, 5, "one more warning")
        m = re.search(r"and (\d+) more like it since the last warning", last[0])
        assert m, last
        assert len(burst) + int(m.group(1)) == 30, (len(burst), last)
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)


# Client CRLs ("client crl"): a revoked gateway is refused; an expired
# list refuses everyone (fail closed).

def crl_appliance(pgdb, pki, crl):
    port = free_port()
    a = Appliance(pgdb, extra_conf=tls_conf(pki, port).rstrip("\n") +
                  f' client crl "{crl}"\n')
    a.tls_port = port
    return a


def refusal_logged(app, before, what):
    def logged():
        lines = [l for l in app.logtext().splitlines() if "refused:" in l]
        return lines[before:] if len(lines) > before else None
    lines = wait_for(logged, 5, "the refusal in the log")
    assert what in " ".join(lines), lines


def test_crl_refuses_a_revoked_client(pki, pgdb):
    a = crl_appliance(pgdb, pki, pki["crl"])
    try:
        a.start()
        wait_for(lambda: "api over TLS" in a.logtext(), 10, "the TLS listener")
        assert f'not revoked by {pki["crl"]}' in a.logtext()
        # The gateway the list does not name is served ...
        assert tls_request(a, context(pki), "GET", "/ready")[0] == 200
        # ... the one it revokes gets no answer, and the log says why.
        refused(a, context(pki, cert="revoked"))
        refusal_logged(a, 0, "its certificate is revoked (client crl)")
        assert tls_request(a, context(pki), "GET", "/ready")[0] == 200
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)


def test_crl_reloaded_when_its_file_changes(pki, pgdb):
    ca = pki["issuer"]
    d = tempfile.mkdtemp(prefix="dromos-crl-")
    os.chmod(d, 0o755)
    live = os.path.join(d, "clients.crl")


    def served(cert):
        try:
            return tls_request(a, context(pki, cert=cert), "GET", "/ready")[0] == 200
        except (ssl.SSLError, ConnectionError, http.client.HTTPException):
            return False

    install_crl(ca.crl(name="revokes-none"), live)
    a = crl_appliance(pgdb, pki, live)
    try:
        a.start()
        wait_for(lambda: "api over TLS" in a.logtext(), 10, "the TLS listener")
        assert served("revoked")
        # A list that revokes it is taken while the broker runs.
        install_crl(pki["crl"], live)
        wait_for(lambda: not served("revoked"), 5, "the new list in force")
        assert f"client crl {live} reloaded: 1 list" in a.logtext()
        assert served("client")
        # Lists that must not be taken are refused, and the one in use stays.
        for bad, why in ((pki["crl-other-ca"], "a CRL is not signed by a client CA"),
                         (pki["crl-expired"], "a CRL has no next update, or it has passed"),
                         (pki["ca"], "no PEM CRL in it")):
            install_crl(bad, live)
            # A handshake is what looks at the file.
            wait_for(lambda: served("client") and
                     f"changed but is refused: {why}" in a.logtext(), 5,
                     f"the refusal ({why})")
            assert served("client") and not served("revoked")
        # And a list that revokes nothing lets it in again.
        install_crl(ca.crl(name="revokes-none-again"), live)
        wait_for(lambda: served("revoked"), 5, "the last list in force")
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)


def test_crl_ends_open_connections(pki, pgdb):
    """A connection made before its certificate was revoked is not served
    on: its next request, a second or more after the new list, ends it."""
    ca = pki["issuer"]
    d = tempfile.mkdtemp(prefix="dromos-crl-")
    os.chmod(d, 0o755)
    live = os.path.join(d, "clients.crl")


    def ready(conn):
        conn.request("GET", "/ready")
        r = conn.getresponse()
        r.read()
        return r.status

    install_crl(ca.crl(name="revokes-none"), live)
    a = crl_appliance(pgdb, pki, live)
    kept = other = None
    try:
        a.start()
        wait_for(lambda: "api over TLS" in a.logtext(), 10, "the TLS listener")
        kept = http.client.HTTPSConnection("127.0.0.1", a.tls_port,
                                           context=context(pki, cert="revoked"), timeout=10)
        other = http.client.HTTPSConnection("127.0.0.1", a.tls_port,
                                            context=context(pki, cert="client"), timeout=10)
        assert ready(kept) == 200 and ready(other) == 200
        install_crl(pki["crl"], live)

        def reloaded():
            # A handshake looks at the file (at most once a second).
            tls_request(a, context(pki), "GET", "/ready")
            return f"client crl {live} reloaded" in a.logtext()
        wait_for(reloaded, 5, "the new list")
        # A second later, the open connection is judged again.
        time.sleep(1.1)
        with pytest.raises((ConnectionError, http.client.HTTPException, ssl.SSLError)):
            ready(kept)
        wait_for(lambda: "refused on its open connection: its certificate is "
                 "revoked (client crl); closing" in a.logtext(), 5, "the refusal")
        # The client the list does not name goes on, on its own connection.
        assert ready(other) == 200
    finally:
        for c in (kept, other):
            if c is not None:
                c.close()
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)


def test_without_crl_the_same_client_is_served(app, pki):
    # The fixture's broker has no CRL: the certificate itself is good.
    st, _, _ = tls_request(app, context(pki, cert="revoked"), "GET", "/ready")
    assert st == 200


def test_expired_crl_refuses_everyone(pki, pgdb, tmp_path):
    ca = TestCA(str(tmp_path), "short")
    p = dict(pki, ca=ca.crt, server=ca.issue("broker"),
             client=ca.issue("gateway", server=False))
    crl = ca.crl(seconds=8)
    a = crl_appliance(pgdb, p, crl)
    kept = None
    try:
        a.start()
        wait_for(lambda: "api over TLS" in a.logtext(), 10, "the TLS listener")
        assert tls_request(a, context(p), "GET", "/ready")[0] == 200
        # A connection made before the expiry, kept open across it.
        kept = http.client.HTTPSConnection("127.0.0.1", a.tls_port,
                                           context=context(p), timeout=10)
        kept.request("GET", "/ready")
        r = kept.getresponse()
        r.read()
        assert r.status == 200
        before = a.logtext().count("refused:")

        def cut_off():
            try:
                tls_request(a, context(p), "GET", "/ready")
                return False
            except (ssl.SSLError, ConnectionError, http.client.HTTPException):
                return True
        wait_for(cut_off, 15, "the CRL's expiry")
        refusal_logged(a, before, "a client CRL has expired")
        time.sleep(1.1)
        with pytest.raises((ConnectionError, http.client.HTTPException, ssl.SSLError)):
            kept.request("GET", "/ready")
            kept.getresponse()
        assert "refused on its open connection: a client CRL has expired" in a.logtext()
    finally:
        if kept is not None:
            kept.close()
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)


# dromosd -n: every problem with the files is found before anything starts.

def check_conf(tmp, pki, line):
    """dromosd -n on a configuration with this "listen tls" line:
    (exit status, stderr)."""
    conf = os.path.join(tmp, "dromos.conf")
    key = os.path.join(tmp, "root.key")
    if not os.path.exists(key):
        subprocess.run([os.path.join(BIN, "dromosctl"), "key", "init", key], check=True)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'listen "{tmp}/broker.sock"\n'
                'database "dbname=dromos"\n'
                f'audit log "{tmp}/audit.log"\n'
                f'root key file "{key}"\n'
                f'{line}\n')
    r = subprocess.run([os.path.join(BIN, "dromosd"), "-n", "-f", conf],
                       capture_output=True, text=True)
    return r.returncode, r.stderr.strip(), conf


@pytest.fixture
def tmpd():
    d = tempfile.mkdtemp(prefix="dromos-tlsconf-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_conf_ok(tmpd, pki):
    crt, key = pki["server"]
    rc, err, _ = check_conf(tmpd, pki, f'listen tls "0.0.0.0:8444" certificate "{crt}" '
                                      f'key "{key}" client ca "{pki["ca"]}"')
    assert rc == 0 and err == "configuration OK", err


def test_conf_missing_file(tmpd, pki):
    crt, key = pki["server"]
    rc, err, conf = check_conf(tmpd, pki, f'listen tls "0.0.0.0:8444" certificate "{crt}" '
                                          f'key "{key}" client ca "{tmpd}/absent.pem"')
    assert rc == 1
    assert err == (f'{conf}:5: "listen tls": client ca {tmpd}/absent.pem: '
                   'No such file or directory')


def test_conf_key_of_another_certificate(tmpd, pki):
    crt, _ = pki["server"]
    _, key = pki["client"]
    rc, err, conf = check_conf(tmpd, pki, f'listen tls "0.0.0.0:8444" certificate "{crt}" '
                                          f'key "{key}" client ca "{pki["ca"]}"')
    assert rc == 1
    assert err == f'{conf}:5: "listen tls": key {key} does not match certificate {crt}'


def test_conf_key_readable_by_others(tmpd, pki):
    crt, key = pki["server"]
    mine = os.path.join(tmpd, "broker.key")
    shutil.copy(key, mine)
    os.chmod(mine, 0o644)
    rc, err, conf = check_conf(tmpd, pki, f'listen tls "0.0.0.0:8444" certificate "{crt}" '
                                          f'key "{mine}" client ca "{pki["ca"]}"')
    assert rc == 1
    assert err == (f'{conf}:5: "listen tls": key {mine}: mode 0644 lets group or others in '
                   '(chmod 600 it)')


def test_conf_malformed_pem(tmpd, pki):
    crt, key = pki["server"]
    junk = os.path.join(tmpd, "junk.pem")
    with open(junk, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    rc, err, conf = check_conf(tmpd, pki, f'listen tls "0.0.0.0:8444" certificate "{junk}" '
                                          f'key "{key}" client ca "{pki["ca"]}"')
    assert rc == 1
    assert err.startswith(f'{conf}:5: "listen tls": certificate {junk}: '), err


def test_conf_name_not_address(tmpd, pki):
    crt, key = pki["server"]
    rc, err, conf = check_conf(tmpd, pki, f'listen tls "broker.example:8444" certificate '
                                          f'"{crt}" key "{key}" client ca "{pki["ca"]}"')
    assert rc == 1
    assert err == (f'{conf}:5: "listen tls": expected a numeric address and port (like '
                   '0.0.0.0:8444, [::]:8444 or 192.0.2.10:8444), got "broker.example:8444"')



def crl_line(pki, crl):
    crt, key = pki["server"]
    return (f'listen tls "0.0.0.0:8444" certificate "{crt}" key "{key}" '
            f'client ca "{pki["ca"]}" client crl "{crl}"')


def test_conf_crl_ok(tmpd, pki):
    rc, err, _ = check_conf(tmpd, pki, crl_line(pki, pki["crl"]))
    assert rc == 0 and err == "configuration OK", err


def test_conf_crl_of_another_ca(tmpd, pki):
    rc, err, conf = check_conf(tmpd, pki, crl_line(pki, pki["crl-other-ca"]))
    assert rc == 1
    assert err == (f'{conf}:5: "listen tls": client crl {pki["crl-other-ca"]}: CRL 1 '
                   'is not signed by a certificate of the client ca file')


def test_conf_crl_expired(tmpd, pki):
    rc, err, conf = check_conf(tmpd, pki, crl_line(pki, pki["crl-expired"]))
    assert rc == 1
    assert err == (f'{conf}:5: "listen tls": client crl {pki["crl-expired"]}: CRL 1 '
                   'has expired (its next update is past)')


def test_conf_crl_not_a_crl(tmpd, pki):
    rc, err, conf = check_conf(tmpd, pki, crl_line(pki, pki["ca"]))
    assert rc == 1
    assert err == f'{conf}:5: "listen tls": client crl {pki["ca"]}: no PEM CRL in it'
