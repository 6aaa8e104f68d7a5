"""dromos-gateway from the outside: the broker's flows again over HTTPS
through the public /v1 API, hostile requests refused before anything
reaches the broker, rate limits, the broker going away and coming back,
security headers, CORS, metrics, and the route table against the OpenAPI
document."""
import glob
import json
import os
import re
import shutil
import subprocess
import time

import psycopg2
import pytest

from dromos import BIN, REPO, Appliance, appliance_on, proc_status, wait_for
from gateway import GATEWAY, Gateway, broker_lines, gateway_lines, key_needles, settle
from test_keyholder import _memory_contains

PROVIDERS = sorted(glob.glob(os.path.join(REPO, "etc", "providers", "*.json")))
OPENAPI = os.path.join(REPO, "gateway", "openapi.json")
ORIGIN = "https://app.example"

# Planted: none may appear in the gateway's log.
OPENAI_KEY = "sk-PLANTEDgateway0123456789abcdef"
STRIPE_KEY = "sk_test_PLANTEDgwstripe123456"
QUERY_SECRET = "PLANTEDquerysecret42"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def fresh_db(pg, name):
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return pg.dsn(name)


def drop_db(pg, name):
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def app(pg):
    with appliance_on(pg, "gateway_e2e") as a:
        yield a


@pytest.fixture(scope="module")
def gw(app):
    g = Gateway(app, client_timeout=2, extra=(
        f'cors origin "{ORIGIN}"\n'
        "rate limit client 1000 burst 1000\n"
        "rate limit connection 1000 burst 1000\n"
        "rate limit refresh 1000 burst 1000\n"))
    g.start()
    try:
        yield g
    finally:
        g.cleanup()


def ctl(app, *args, stdin=None):
    r = subprocess.run([os.path.join(BIN, "dromosctl"), "-s", app.admin, *args],
                       capture_output=True, text=True, input=stdin)
    assert r.returncode == 0, f"dromosctl {args}: {r.stderr}"
    return r


def new_client(app, name, *scopes):
    args = ["client", "add", name]
    for s in scopes:
        args += ["--scope", s]
    token = ctl(app, *args).stdout.strip()
    assert token.startswith("dro_")
    return token


@pytest.fixture(scope="module")
def tokens(app):
    for p in PROVIDERS:
        ctl(app, "provider", "add", p)
    return {
        "writer": new_client(app, "gw-writer", "connections:write:acme-*",
                             "token:read:acme-*", "token:refresh:acme-*",
                             "connect:session:acme-*"),
        "reader": new_client(app, "gw-reader", "token:read:acme-*"),
        "other": new_client(app, "gw-other", "token:read:globex-*"),
    }


def call(gw, method, path, token=None, body=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    st, hd, raw = gw.request(method, path, data, h)
    doc = json.loads(raw) if raw and hd.get("Content-Type", "").endswith("json") else None
    return st, hd, doc


def capture(gw, token, provider, conn, creds, owner="acme"):
    return call(gw, "POST", "/v1/connections", token,
                {"provider": provider, "connection": conn, "owner": owner,
                 "credentials": creds})


# The route table and the document.

def routes_of_gateway():
    out = subprocess.run([GATEWAY, "-R"], capture_output=True, text=True, check=True).stdout
    return {tuple(line.split(" ", 1)) for line in out.splitlines()}


def routes_of_openapi(doc):
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item
            if m in ("get", "post", "put", "delete", "patch")}


def test_route_table_matches_openapi(gw):
    with open(OPENAPI) as f:
        doc = json.load(f)
    assert doc["openapi"].startswith("3.1")
    table = routes_of_gateway()
    assert len(table) >= 16
    assert table == routes_of_openapi(doc)
    # The document served is the file, byte for byte.
    st, hd, raw = gw.request("GET", "/v1/openapi.json")
    assert st == 200 and hd["Content-Type"] == "application/json"
    with open(OPENAPI, "rb") as f:
        assert raw == f.read()


def test_openapi_is_consistent():
    with open(OPENAPI) as f:
        doc = json.load(f)

    def resolve(ref):
        node = doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            declared = set()
            for p in op.get("parameters", []):
                p = resolve(p["$ref"]) if "$ref" in p else p
                if p["in"] == "path":
                    declared.add(p["name"])
            assert declared == names, (method, path)
            assert op["responses"], (method, path)
    types = doc["components"]["schemas"]["Problem"]["x-problem-types"]
    for t in ("invalid-path", "invalid-header", "too-large", "rate-limited",
              "upstream-unavailable", "method-not-allowed", "not-found",
              "too-many-headers", "malformed-json", "not-implemented"):
        assert "urn:dromos:problem:" + t in types


# Configuration checks.

def run_n(gw, text):
    path = os.path.join(gw.dir, "check.conf")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([GATEWAY, "-n", "-f", path], capture_output=True, text=True)


def test_config_check(gw):
    r = subprocess.run([GATEWAY, "-n", "-v", "-f", gw.conf], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stderr and "cors origin" in r.stdout
    r = run_n(gw, 'listen "0.0.0.0:8443"\ntls off\n')
    assert r.returncode == 1 and "check.conf:2:" in r.stderr and "loopback" in r.stderr
    r = run_n(gw, 'listen "127.0.0.1:8443"\ntls off\nmetrics listen "10.1.2.3:9102"\n')
    assert r.returncode == 1 and "check.conf:3:" in r.stderr
    r = run_n(gw, 'listen "127.0.0.1:8443"\ntls off\nrate limit client 5 per hour\n')
    assert r.returncode == 1 and "check.conf:3:" in r.stderr
    r = run_n(gw, 'listen "localhost:8443"\ntls off\n')
    assert r.returncode == 1 and "check.conf:1:" in r.stderr
    r = run_n(gw, 'listen "127.0.0.1:8443"\n')
    assert r.returncode == 1 and "tls" in r.stderr
    os.chmod(gw.key, 0o644)
    try:
        r = run_n(gw, f'listen "127.0.0.1:8443"\ntls certificate "{gw.cert}" key "{gw.key}"\n')
        assert r.returncode == 1 and "others" in r.stderr
    finally:
        os.chmod(gw.key, 0o600)


def test_sandboxed(gw):
    st = proc_status(gw.proc.pid)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    if os.geteuid() == 0:
        import pwd
        uid = pwd.getpwnam("_dromosgw").pw_uid
        assert st["Uid"].split() == [str(uid)] * 4
        # Not dumpable: the kernel gives its /proc files to root.
        assert os.stat(f"/proc/{gw.proc.pid}/environ").st_uid == 0


# The flows of the broker, through the gateway.

def test_health_and_ready(gw):
    st, hd, doc = call(gw, "GET", "/v1/health")
    assert st == 200 and doc == {"status": "ok"}
    st, hd, doc = call(gw, "GET", "/v1/ready")
    assert st == 200 and doc["status"] == "ready"


def test_providers(gw, tokens):
    st, hd, doc = call(gw, "GET", "/v1/providers", tokens["reader"])
    assert st == 200 and len(doc["providers"]) == len(PROVIDERS)
    st, _, doc = call(gw, "GET", "/v1/providers/openai", tokens["reader"])
    assert st == 200 and doc["id"] == "openai" and "client_secret" not in doc
    st, _, doc = call(gw, "GET", "/v1/providers/openai/schema", tokens["reader"])
    assert st == 200 and doc["properties"]["api_key"]["secret"] is True
    st, _, doc = call(gw, "GET", "/v1/providers/github/schema", tokens["reader"])
    assert st == 404 and doc["type"] == "urn:dromos:problem:no-schema"
    st, _, doc = call(gw, "GET", "/v1/providers/nonesuch", tokens["reader"])
    assert st == 404 and doc["type"] == "urn:dromos:problem:not-found"


def test_capture_token_disconnect(gw, tokens):
    st, _, view = capture(gw, tokens["writer"], "openai", "acme-gw-openai",
                          {"api_key": OPENAI_KEY})
    assert st == 201, view
    assert view["connection"] == "acme-gw-openai" and OPENAI_KEY not in json.dumps(view)
    st, _, p = call(gw, "GET", "/v1/token/acme-gw-openai", tokens["reader"])
    assert st == 200 and p["strategy"] == "api_key" and p["credentials"]["key"] == OPENAI_KEY
    st, _, v = call(gw, "GET", "/v1/connections/acme-gw-openai", tokens["reader"])
    assert st == 200 and v["provider"] == "openai"
    st, _, lst = call(gw, "GET", "/v1/connections", tokens["reader"])
    assert st == 200 and "acme-gw-openai" in {c["connection"] for c in lst["connections"]}
    st, _, doc = capture(gw, tokens["writer"], "openai", "acme-gw-bad", {"api_key": "nope"})
    assert st == 422 and [e["path"] for e in doc["errors"]] == ["$.api_key"]
    # Disconnect.
    assert capture(gw, tokens["writer"], "stripe", "acme-gw-stripe",
                   {"secret_key": STRIPE_KEY})[0] == 201
    st, hd, _ = call(gw, "DELETE", "/v1/connections/acme-gw-stripe", tokens["writer"])
    assert st == 204
    assert call(gw, "GET", "/v1/token/acme-gw-stripe", tokens["reader"])[0] == 404


def test_scopes_and_authentication(gw, tokens):
    capture(gw, tokens["writer"], "openai", "acme-gw-scope", {"api_key": OPENAI_KEY})
    st, _, doc = call(gw, "GET", "/v1/token/acme-gw-scope", tokens["other"])
    assert st == 403 and doc["type"] == "urn:dromos:problem:forbidden"
    st, _, doc = capture(gw, tokens["reader"], "openai", "acme-gw-x", {"api_key": OPENAI_KEY})
    assert st == 403
    st, _, doc = call(gw, "GET", "/v1/token/acme-gw-scope")
    assert st == 401 and doc["type"] == "urn:dromos:problem:unauthenticated"
    st, _, doc = call(gw, "GET", "/v1/token/acme-gw-none", tokens["reader"])
    assert st == 404 and doc["type"] == "urn:dromos:problem:not-found"


def test_request_id_kept_or_replaced(app, gw, tokens):
    st, hd, _ = call(gw, "GET", "/v1/providers", tokens["reader"],
                     headers={"X-Request-Id": "gw-good.id_1"})
    assert st == 200 and hd["X-Request-Id"] == "gw-good.id_1"
    settle()
    # Passed to the broker, logged by both.
    assert len(broker_lines(app, "gw-good.id_1")) == 1
    assert len(gateway_lines(gw, "gw-good.id_1")) == 1
    for bad in ("has space", "x" * 65, "semi;colon", "caf\u00e9"):
        st, hd, doc = call(gw, "GET", "/v1/health",
                           headers={"X-Request-Id": bad.encode("utf-8")})
        assert st == 200
        assert re.fullmatch(r"[0-9a-f]{32}", hd["X-Request-Id"]), hd["X-Request-Id"]


def test_connect_sessions_and_oauth_routes(app, gw, tokens):
    # The connect page itself (tests/e2e/test_connect_page.py drives it).
    st, hd, body = gw.request("GET", "/v1/connect?session=abc")
    assert st == 200 and hd["Content-Type"].startswith("text/html")
    st, _, doc = call(gw, "POST", "/v1/connect/sessions", tokens["writer"],
                      {"owner": "acme", "providers": ["github", "openai"]})
    assert st == 201, doc
    assert doc["session"] and "/v1/connect?session=" in doc["url"]


def test_oauth_start_and_callback_through_gateway(app, gw, tokens):
    """The query string reaches the broker verbatim, its 302 comes back with
    Location, its HTML page with its type; none of the values is logged."""
    doc = json.load(open(os.path.join(REPO, "etc", "providers", "github.json")))
    doc["client_id"] = "gw-client-id"
    doc["client_secret"] = "PLANTED-gw-client-secret"
    ctl(app, "provider", "update", "-", stdin=json.dumps(doc))
    st, _, sess = call(gw, "POST", "/v1/connect/sessions", tokens["writer"],
                       {"owner": "acme", "providers": ["github"]})
    assert st == 201, sess
    session = sess["session"]
    st, hd, _ = gw.request("GET", f"/v1/auth/start?session={session}&provider=github")
    assert st == 302, hd
    loc = hd["Location"]
    assert loc.startswith("https://github.com/login/oauth/authorize?")
    assert "code_challenge_method=S256" in loc and "state=" in loc
    assert "client_id=gw-client-id" in loc
    for k, v in SECURITY_HEADERS.items():
        assert hd[k] == v
    state = re.search(r"[?&]state=([^&]+)", loc).group(1)
    # A provider outside the session, an unknown session.
    st, _, d = call(gw, "GET", f"/v1/auth/start?session={session}&provider=openai")
    assert st in (403, 409), d
    st, _, d = call(gw, "GET", f"/v1/auth/start?session={QUERY_SECRET}&provider=github")
    assert st == 401 and d["type"] == "urn:dromos:problem:invalid-session"
    # The callback with a state nobody issued: the broker's page, as is.
    st, hd, body = gw.request("GET", "/v1/auth/callback/github?code=PLANTEDcode&state=bogus")
    assert st == 400
    assert hd["Content-Type"].startswith("text/html"), hd
    # Same-origin style for the page, nothing else: no script, no form.
    csp = hd["Content-Security-Policy"]
    assert "style-src 'self'" in csp and "default-src 'none'" in csp
    assert "script-src" not in csp and "form-action 'none'" in csp
    assert b'href="../../connect/connect.css"' in body and b'class="alert"' in body
    settle()
    text = gw.logtext()
    for v in (session, state, QUERY_SECRET, "PLANTEDcode", "PLANTED-gw-client-secret"):
        assert v not in text


def test_refresh_route_forwarded(app, gw, tokens):
    rid = "gw-refresh-1"
    st, _, doc = call(gw, "POST", "/v1/token/acme-gw-openai/refresh", tokens["writer"],
                      headers={"X-Request-Id": rid})
    settle()
    assert len(broker_lines(app, rid)) == 1
    # An API-key connection: forwarded, and the broker says it cannot refresh.
    assert st == 409 and doc["type"] == "urn:dromos:problem:not-refreshable", (st, doc)


# Security headers and CORS.

def test_security_headers_everywhere(gw, tokens):
    answers = [
        gw.request("GET", "/v1/health"),
        gw.request("GET", "/v1/providers", headers={"Authorization": f"Bearer {tokens['reader']}"}),
        gw.request("GET", "/v1/nope"),
        gw.request("PATCH", "/v1/providers"),
        gw.request("GET", "/v1/token/acme-x"),
    ]
    for st, hd, _ in answers:
        for k, v in SECURITY_HEADERS.items():
            assert hd[k] == v, (st, k)
        assert hd["Strict-Transport-Security"].startswith("max-age=")
        assert hd["X-Request-Id"]
    # Only whitelisted headers come back from the broker.
    st, hd, _ = answers[1]
    assert "Server" not in hd or "MHD" not in (hd["Server"] or "")


def test_cors_only_for_configured_origins(gw, tokens):
    auth = {"Authorization": f"Bearer {tokens['reader']}"}
    st, hd, _ = gw.request("GET", "/v1/providers", headers={**auth, "Origin": ORIGIN})
    assert st == 200 and hd["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in hd["Vary"]
    st, hd, _ = gw.request("GET", "/v1/providers", headers={**auth, "Origin": "https://evil.example"})
    assert st == 200 and hd.get("Access-Control-Allow-Origin") is None
    # Preflight.
    st, hd, _ = gw.request("OPTIONS", "/v1/connections", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert st == 204
    assert hd["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in hd["Access-Control-Allow-Methods"]
    assert "Authorization" in hd["Access-Control-Allow-Headers"]
    st, hd, _ = gw.request("OPTIONS", "/v1/connections", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert st == 204 and hd.get("Access-Control-Allow-Origin") is None
    assert hd.get("Access-Control-Allow-Methods") is None


# Hostile requests: refused, and nothing reaches the broker.

def raw_request(method, path, rid, extra=b"", body=b""):
    head = (f"{method} {path} HTTP/1.1\r\nHost: gw\r\nX-Request-Id: {rid}\r\n").encode()
    return head + extra + b"\r\n" + body


HOSTILE = [
    # (name, request bytes, expected status or statuses, problem type or None)
    ("oversized-length", raw_request("POST", "/v1/connections", "h-big",
     b"Content-Type: application/json\r\nContent-Length: 70000\r\n"), 413, "too-large"),
    ("oversized-chunked", raw_request("POST", "/v1/connections", "h-bigchunk",
     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
     b"".join(b"4000\r\n" + b"a" * 0x4000 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"),
     413, "too-large"),
    ("malformed-json", raw_request("POST", "/v1/connections", "h-json",
     b"Content-Type: application/json\r\nContent-Length: 8\r\n", b'{"a": 1,'), 400,
     "malformed-json"),
    ("duplicate-keys", raw_request("POST", "/v1/connections", "h-dupkey",
     b"Content-Type: application/json\r\nContent-Length: 16\r\n", b'{"a": 1, "a": 2}'), 400,
     "malformed-json"),
    ("json-array", raw_request("POST", "/v1/connections", "h-array",
     b"Content-Type: application/json\r\nContent-Length: 2\r\n", b"[]"), 400, "malformed-json"),
    ("wrong-type", raw_request("POST", "/v1/connections", "h-ctype",
     b"Content-Type: text/plain\r\nContent-Length: 2\r\n", b"{}"), 415, "unsupported-media-type"),
    ("body-on-get", raw_request("GET", "/v1/providers", "h-getbody",
     b"Content-Length: 2\r\n", b"{}"), 400, "unexpected-body"),
    ("cr-in-header", raw_request("GET", "/v1/providers", "h-cr",
     b"X-Evil: a\rInjected: b\r\n"), 400, "invalid-header"),
    ("vt-in-value", raw_request("GET", "/v1/providers", "h-vt",
     b"X-Evil: a\x0bb\r\n"), 400, "invalid-header"),
    ("ctl-in-auth", raw_request("GET", "/v1/providers", "h-ctl",
     b"Authorization: Bearer a\x01b\r\n"), 400, "invalid-header"),
    ("double-length", raw_request("POST", "/v1/connections", "h-2cl",
     b"Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n", b"{}"),
     400, "invalid-header"),
    ("double-length-differ", raw_request("POST", "/v1/connections", "h-2cld",
     b"Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 30\r\n", b"{}"),
     400, "invalid-header"),
    ("te-and-cl", raw_request("POST", "/v1/connections", "h-tecl",
     b"Content-Type: application/json\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n",
     b"2\r\n{}\r\n0\r\n\r\n"), 400, "invalid-header"),
    ("te-gzip", raw_request("POST", "/v1/connections", "h-tegz",
     b"Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n",
     b"2\r\n{}\r\n0\r\n\r\n"), 400, "invalid-header"),
    ("double-authorization", raw_request("GET", "/v1/providers", "h-2auth",
     b"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n"), 400, "invalid-header"),
    ("encoded-traversal", raw_request("GET", "/v1/connections/..%2f..", "h-enc"), 400,
     "invalid-path"),
    ("encoded-slash", raw_request("GET", "/v1/token/a%2fb", "h-encslash"), 400, "invalid-path"),
    ("dot-dot", raw_request("GET", "/v1/../x", "h-dotdot"), 400, "invalid-path"),
    ("dot-segment-param", raw_request("GET", "/v1/token/..", "h-dotparam"), 400, "invalid-path"),
    ("absolute-form", raw_request("GET", "http://evil.example/v1/providers", "h-absform"),
     400, "invalid-path"),
    ("bad-param", raw_request("GET", "/v1/providers/UPPER", "h-param"), 400, "invalid-parameter"),
    ("long-param", raw_request("GET", "/v1/token/" + "a" * 129, "h-longparam"), 400,
     "invalid-parameter"),
    ("unknown-route", raw_request("GET", "/v1/secrets", "h-404"), 404, "not-found"),
    ("unversioned", raw_request("GET", "/token/acme-gw-openai", "h-unver"), 404, "not-found"),
    ("trailing-slash", raw_request("GET", "/v1/providers/", "h-slash"), 404, "not-found"),
    ("bad-method", raw_request("PUT", "/v1/token/acme-gw-openai", "h-405"), 405,
     "method-not-allowed"),
    ("head-method", raw_request("HEAD", "/v1/providers", "h-head"), 405, None),
    ("bad-query", raw_request("GET", "/v1/auth/start?session=a b&x=%zz", "h-query"), 400, "invalid-query"),
    ("many-headers", raw_request("GET", "/v1/providers", "h-many",
     b"".join(f"X-H{i}: v\r\n".encode() for i in range(100))), 431, "too-many-headers"),
    ("huge-headers", raw_request("GET", "/v1/providers", "h-huge",
     # Past libmicrohttpd's memory limit: it answers 431 itself.
     b"".join(f"X-Big{i}: {'v' * 4000}\r\n".encode() for i in range(12))), 431, None),
]


@pytest.mark.parametrize("name,data,expect,ptype", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_refused_and_not_forwarded(app, gw, tokens, name, data, expect, ptype):
    auth = f"Authorization: Bearer {tokens['writer']}\r\n".encode()
    if b"Authorization:" not in data:
        data = data.replace(b"\r\nX-Request-Id", b"\r\n" + auth.rstrip(b"\r\n") + b"\r\nX-Request-Id", 1)
    rid = re.search(rb"X-Request-Id: ([\w.-]+)", data).group(1).decode()
    status, out = gw.raw(data)
    expect = expect if isinstance(expect, tuple) else (expect,)
    assert status in expect, (name, out[:300])
    head, _, body = out.partition(b"\r\n\r\n")
    if ptype is not None:
        assert b"application/problem+json" in head
        assert json.loads(body)["type"] == "urn:dromos:problem:" + ptype
    if status == 405:
        assert b"\r\nAllow: GET" in head
    settle()
    assert broker_lines(app, rid) == [], name
    assert gw.proc.poll() is None


def test_nul_in_header_smuggles_nothing(app, gw, tokens):
    """libmicrohttpd 0.9.75 ends a header value at a NUL byte, so the
    gateway never sees what follows: a valid token hidden after a NUL is
    not used, and the truncated value is all the broker could get."""
    data = raw_request("GET", "/v1/providers", "h-nul",
                       b"Authorization: Bearer dro_nope\x00" + tokens["reader"].encode() + b"\r\n")
    status, out = gw.raw(data)
    assert status in (400, 401), out[:200]
    assert gw.proc.poll() is None


def test_forwarded_control(app, gw, tokens):
    """The check above can fail: a good request does reach the broker."""
    data = raw_request("GET", "/v1/providers", "h-control",
                       f"Authorization: Bearer {tokens['reader']}\r\n".encode())
    status, _ = gw.raw(data)
    assert status == 200
    settle()
    assert len(broker_lines(app, "h-control")) == 1


def test_slow_client_is_closed(gw):
    """A client that sends a header byte now and then is cut off once the
    client timeout (2 s here) has passed, although it is never idle."""
    s = gw.sock(timeout=10)
    start = time.monotonic()
    closed = False
    try:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: gw\r\n")
        while time.monotonic() - start < 8:
            try:
                s.sendall(b"X")
            except OSError:
                closed = True
                break
            s.settimeout(0.5)
            try:
                if s.recv(1024) == b"":
                    closed = True
                    break
            except (TimeoutError, OSError) as e:
                if not isinstance(e, TimeoutError) and "timed out" not in str(e):
                    closed = True
                    break
    finally:
        s.close()
    took = time.monotonic() - start
    assert closed, "the slow client was not cut off"
    assert took < 6, took
    # A patient but complete client still works.
    assert gw.request("GET", "/v1/health")[0] == 200


def test_idle_client_is_closed(gw):
    s = gw.sock(timeout=10)
    start = time.monotonic()
    try:
        s.sendall(b"GET /v1/he")
        s.settimeout(8)
        data = s.recv(1024)
    except OSError:
        data = b""
    finally:
        s.close()
    assert time.monotonic() - start < 6
    assert not data.startswith(b"HTTP/1.1 200")


def test_no_secret_or_query_value_in_gateway_log(gw, tokens):
    call(gw, "GET", f"/v1/connect?session={QUERY_SECRET}")
    settle()
    text = gw.logtext()
    for secret in (OPENAI_KEY, STRIPE_KEY, QUERY_SECRET, *tokens.values()):
        assert secret not in text
    # One access-log line per request, with the route's pattern.
    assert "route=/v1/token/{connection}" in text


# Metrics.

@pytest.mark.skipif(os.geteuid() != 0,
                    reason="the memory of a daemon, not dumpable, is root's to read")
def test_no_secret_in_gateway_memory(gw, tokens):
    """Once answered, no secret stays in the gateway's memory: not the
    bearer tokens, not the credential captured and read through it, nor
    the text of its own TLS key, which GnuTLS decodes through buffers it
    frees (common/wipefree.c wipes every block the process frees).  The
    key's scalar is not searched for: GnuTLS keeps the parsed key, as it
    must to serve."""
    secret = "sk-MEMSCAN" + os.urandom(12).hex()
    st, _, view = capture(gw, tokens["writer"], "openai", "acme-gw-memscan",
                          {"api_key": secret})
    assert st == 201, view
    for _ in range(5):
        st, _, p = call(gw, "GET", "/v1/token/acme-gw-memscan", tokens["reader"])
        assert st == 200 and p["credentials"]["key"] == secret
    settle(0.5)
    needles = {"reader token": tokens["reader"].encode(),
               "writer token": tokens["writer"].encode(),
               "credential": secret.encode()}
    needles.update((k, v) for k, v in key_needles(gw.key).items()
                   if k != "key scalar")
    assert _memory_contains(gw.proc.pid, needles) == set()
    # The scan sees what is there: this process has them all.
    assert _memory_contains(os.getpid(), needles) == set(needles)


def test_metrics(gw, tokens):
    def count(text, route, code):
        m = re.search(r'^dromos_gateway_requests_total\{route="%s",method="GET",code="%d"\} (\d+)$'
                      % (re.escape(route), code), text, re.M)
        return int(m.group(1)) if m else 0

    st, ctype, before = gw.metrics()
    assert st == 200 and ctype.startswith("text/plain; version=0.0.4")
    for _ in range(3):
        assert call(gw, "GET", "/v1/providers", tokens["reader"])[0] == 200
    # Counted when libmicrohttpd reports the request complete, just after
    # the answer went out.
    settle()
    _, _, after = gw.metrics()
    assert count(after, "/v1/providers", 200) == count(before, "/v1/providers", 200) + 3
    assert "dromos_gateway_request_duration_seconds_bucket{" in after
    assert "dromos_gateway_requests_in_flight " in after
    assert 'dromos_gateway_upstream_errors_total{kind="connect"}' in after
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing (scripts/install-deps installs prometheus)"
    r = subprocess.run([promtool, "check", "metrics"], input=after, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# Rate limits, with a gateway of its own.

def test_rate_limits(app, tokens):
    with Gateway(app, extra=("rate limit client 1 per minute burst 3\n"
                             "rate limit connection 1 per minute burst 2\n"
                             "rate limit refresh 1 per minute burst 1\n")) as g:
        g.start(wait=False)
        wait_for(lambda: g.proc.poll() is None and os.path.exists(g.log) and
                 "ready" in g.logtext(), 10, "gateway ready")
        auth = tokens["reader"]
        codes = [call(g, "GET", "/v1/providers", auth)[0] for _ in range(4)]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429
        st, hd, doc = call(g, "GET", "/v1/providers", auth)
        assert st == 429 and doc["type"] == "urn:dromos:problem:rate-limited"
        assert int(hd["Retry-After"]) >= 1
        # Another client has its own bucket; the connection's is shared.
        w = tokens["writer"]
        assert call(g, "GET", "/v1/token/acme-gw-openai", w)[0] == 200
        assert call(g, "GET", "/v1/connections/acme-gw-openai", w)[0] == 200
        st, hd, doc = call(g, "GET", "/v1/token/acme-gw-openai", w)
        assert st == 429 and "connection" in doc["detail"]
        # Refresh: its own, harder limit, checked before anything is forwarded.
        o = tokens["other"]
        st, _, doc = call(g, "POST", "/v1/token/acme-gw-refresh/refresh", o)
        assert st != 429
        st, hd, doc = call(g, "POST", "/v1/token/acme-gw-refresh/refresh", o,
                           headers={"X-Request-Id": "gw-refresh-limited"})
        assert st == 429 and "refresh" in doc["detail"]
        settle()
        assert broker_lines(app, "gw-refresh-limited") == []
        _, _, text = g.metrics()
        assert re.search(r'dromos_gateway_ratelimited_total\{limit="client"\} [1-9]', text)
        assert re.search(r'dromos_gateway_ratelimited_total\{limit="refresh"\} 1$', text, re.M)


# Event loops: many clients at once on two loops, every request logged.

def test_loops_concurrent_clients_every_line_logged(app, tokens):
    import threading
    with Gateway(app, tls=False, metrics=False, extra=(
            "threads 2\nrate limit client off\nrate limit connection off\n")) as g:
        g.start()
        results = {}
        errors = []

        def client(t):
            c = g.connection()
            try:
                for i in range(25):
                    rid = f"gw-loop-{t}-{i}"
                    path = "/v1/providers" if i % 2 == 0 else "/v1/token/acme-gw-absent"
                    c.request("GET", path, headers={
                        "Authorization": f"Bearer {tokens['reader']}", "X-Request-Id": rid})
                    r = c.getresponse()
                    r.read()
                    results[rid] = r.status
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
            finally:
                c.close()

        threads = [threading.Thread(target=client, args=(t,)) for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert len(results) == 16 * 25
        assert {st for rid, st in results.items() if rid.endswith(("0", "2", "4", "6", "8"))} == {200}
        assert {st for rid, st in results.items() if rid.endswith(("1", "3", "5", "7", "9"))} == {404}
        # Stopped at once (nothing in flight to drain): the lines a loop
        # still held are written on the way out.
        assert g.stop() == 0
        text = g.logtext()
        for rid, st in results.items():
            lines = gateway_lines(g, rid)
            assert len(lines) == 1, (rid, lines)
            assert f" status={st} " in lines[0] and lines[0].endswith(" end=ok")
        assert "draining (0 requests in flight)" in text
        assert "drained: every request was answered" in text


# The broker goes away and comes back.

def test_broker_down_then_back(pg):
    dsn = fresh_db(pg, "gateway_e2e_down")
    a = Appliance(dsn)
    try:
        a.start()
        with Gateway(a, tls=False) as g:
            g.start()
            assert call(g, "GET", "/v1/ready")[0] == 200
            a.stop()
            st, hd, doc = call(g, "GET", "/v1/ready")
            assert st == 503 and doc["type"] == "urn:dromos:problem:upstream-unavailable"
            assert hd["Content-Type"] == "application/problem+json"
            assert "Strict-Transport-Security" not in hd
            st, _, doc = call(g, "GET", "/v1/providers", "dro_x")
            assert st == 503
            # Liveness is the gateway's own.
            assert call(g, "GET", "/v1/health")[0] == 200
            a.start()
            wait_for(lambda: call(g, "GET", "/v1/ready")[0] == 200, 15, "recovery")
            _, _, text = g.metrics()
            assert re.search(r'dromos_gateway_upstream_errors_total\{kind="connect"\} [1-9]', text)
            assert g.proc.poll() is None
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)
        drop_db(pg, "gateway_e2e_down")
