"""The broker's vault, registry, capture and credential payloads, driven
through its real sockets: dromosctl on the admin socket, HTTP with client
tokens on the internal socket, PostgreSQL underneath."""
import glob
import json
import os
import re
import subprocess

import psycopg2
import pytest

from dromos import BIN, REPO, appliance_on, wait_for

PROVIDERS = sorted(glob.glob(os.path.join(REPO, "etc", "providers", "*.json")))

# Secrets planted by these tests: none may appear in any log.
OPENAI_KEY = "sk-PLANTEDopenai0123456789abcdef"
STRIPE_KEY = "sk_test_PLANTEDstripe123456"
JIRA_TOKEN = "PLANTEDjiratoken0987654321"
AWS_SECRET = "PLANTEDawsSecretKey/abcdefghijklmnopqrstu"[:40]
AWS_SESSION = "PLANTEDawsSessionToken+/="
HDR_KEY = "PLANTED-header-key-5150"
PLANTED = [OPENAI_KEY, STRIPE_KEY, JIRA_TOKEN, AWS_SECRET, AWS_SESSION, HDR_KEY]

HEADERS_PROVIDER = {
    "id": "teamhdr",
    "display_name": "Team headers",
    "auth_mode": "headers",
    "credentials": {
        "type": "object",
        "properties": {
            "team": {"type": "string", "pattern": "^[a-z]+$", "title": "Team"},
            "key": {"type": "string", "minLength": 8, "secret": True, "title": "Key"},
        },
        "required": ["team", "key"],
    },
    "apply": {"strategy": "headers",
              "headers": {"X-Team": "{team}", "X-Key": "{key}"}},
}


@pytest.fixture(scope="module")
def app(pg):
    with appliance_on(pg, "broker_api") as a:
        yield a


def ctl(app, *args, check=True, stdin=None):
    r = subprocess.run([os.path.join(BIN, "dromosctl"), "-s", app.admin, *args],
                       capture_output=True, text=True, input=stdin)
    if check and r.returncode != 0:
        raise AssertionError(f"dromosctl {args}: {r.returncode}\n{r.stderr}")
    return r


def new_client(app, name, *scopes):
    args = ["client", "add", name]
    for s in scopes:
        args += ["--scope", s]
    r = ctl(app, *args)
    token = r.stdout.strip()
    assert token.startswith("dro_") and len(token) == 60, r.stdout
    return token


def call(app, method, path, token=None, body=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    st, hd, raw = app.request(method, path, data, h)
    doc = json.loads(raw) if raw else None
    return st, hd, doc


@pytest.fixture(scope="module")
def loaded(app):
    for p in PROVIDERS:
        ctl(app, "provider", "add", p)
    ctl(app, "provider", "add", "-", stdin=json.dumps(HEADERS_PROVIDER))
    tokens = {
        "writer": new_client(app, "writer", "connections:write:acme-*", "token:read:acme-*"),
        "reader": new_client(app, "reader", "token:read:acme-*"),
        "other": new_client(app, "other", "token:read:globex-*", "connections:write:globex-*"),
    }
    return tokens


def test_catalogue_providers_listed(app, loaded):
    r = ctl(app, "--json", "provider", "list")
    ids = sorted(p["id"] for p in json.loads(r.stdout)["providers"])
    assert ids == sorted(["aws", "github", "google", "jira", "openai", "stripe", "teamhdr"])
    st, _, doc = call(app, "GET", "/providers", loaded["reader"])
    assert st == 200 and len(doc["providers"]) == 7
    st, _, doc = call(app, "GET", "/providers/openai/schema", loaded["reader"])
    assert st == 200 and doc["properties"]["api_key"]["secret"] is True
    st, _, doc = call(app, "GET", "/providers/github/schema", loaded["reader"])
    assert st == 404 and doc["type"] == "urn:dromos:problem:no-schema"


def test_schema_keeps_property_order(app, loaded):
    """A form asks in the order the provider document lists the fields."""
    for prov in ("jira", "aws", "teamhdr"):
        if prov == "teamhdr":
            want = list(HEADERS_PROVIDER["credentials"]["properties"])
        else:
            with open(os.path.join(REPO, "etc", "providers", f"{prov}.json")) as f:
                want = list(json.load(f)["credentials"]["properties"])
        assert len(want) >= 2
        st, _, doc = call(app, "GET", f"/providers/{prov}/schema", loaded["reader"])
        assert st == 200 and list(doc["properties"]) == want, (prov, list(doc["properties"]))
        r = ctl(app, "--json", "provider", "show", prov)
        assert list(json.loads(r.stdout)["credentials"]["properties"]) == want


def capture(app, token, provider, conn, creds, owner="acme"):
    return call(app, "POST", "/connections", token,
                {"provider": provider, "connection": conn, "owner": owner,
                 "credentials": creds})


CAPTURES = [
    ("openai", "acme-openai", {"api_key": OPENAI_KEY}, "api_key",
     {"key": OPENAI_KEY, "in": "header", "name": "Authorization", "prefix": "Bearer "}),
    ("stripe", "acme-stripe", {"secret_key": STRIPE_KEY}, "bearer",
     {"token": STRIPE_KEY}),
    ("jira", "acme-jira", {"site": "acme.atlassian.net", "email": "ops@acme.example",
                           "api_token": JIRA_TOKEN}, "basic_auth",
     {"username": "ops@acme.example", "password": JIRA_TOKEN}),
    ("aws", "acme-aws", {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": AWS_SECRET,
                         "session_token": AWS_SESSION, "region": "eu-west-2",
                         "service": "execute-api"}, "aws_sigv4",
     {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": AWS_SECRET,
      "session_token": AWS_SESSION, "region": "eu-west-2", "service": "execute-api"}),
    ("teamhdr", "acme-hdr", {"team": "core", "key": HDR_KEY}, "headers",
     {"headers": {"X-Team": "core", "X-Key": HDR_KEY}}),
]


@pytest.mark.parametrize("prov,conn,creds,strategy,expect", CAPTURES,
                         ids=[c[0] for c in CAPTURES])
def test_capture_and_payload(app, loaded, prov, conn, creds, strategy, expect):
    st, _, view = capture(app, loaded["writer"], prov, conn, creds)
    assert st == 201, view
    assert view["connection"] == conn and view["provider"] == prov
    # Only the values the schema does not mark secret come back.
    for v in creds.values():
        assert v not in json.dumps(view) or v in ("core", "acme.atlassian.net",
                                                  "ops@acme.example", "AKIAIOSFODNN7EXAMPLE",
                                                  "eu-west-2", "execute-api")
    st, _, p = call(app, "GET", f"/token/{conn}", loaded["reader"])
    assert st == 200, p
    assert p["connection"] == conn and p["provider"] == prov
    assert p["strategy"] == strategy
    assert p["credentials"] == expect


def test_invalid_capture_names_field(app, loaded):
    st, _, doc = capture(app, loaded["writer"], "openai", "acme-bad",
                         {"api_key": "not-a-key"})
    assert st == 422
    assert doc["type"] == "urn:dromos:problem:invalid-credentials"
    assert [e["path"] for e in doc["errors"]] == ["$.api_key"]
    assert "not-a-key" not in json.dumps(doc)
    st, _, doc = capture(app, loaded["writer"], "jira", "acme-bad", {"site": "acme.atlassian.net"})
    assert st == 422
    assert sorted(e["path"] for e in doc["errors"]) == ["$.api_token", "$.email"]
    st, _, doc = capture(app, loaded["writer"], "openai", "acme-bad",
                         {"api_key": OPENAI_KEY, "extra": "x"})
    assert st == 422 and any(e["path"] == "$.extra" for e in doc["errors"])
    # Nothing was stored.
    st, _, _ = call(app, "GET", "/connections/acme-bad", loaded["writer"])
    assert st == 404


def test_recapture_replaces(app, loaded):
    key2 = "sk-PLANTEDsecondkey00000000000"
    assert capture(app, loaded["writer"], "openai", "acme-re", {"api_key": OPENAI_KEY})[0] == 201
    assert capture(app, loaded["writer"], "openai", "acme-re", {"api_key": key2})[0] == 201
    st, _, p = call(app, "GET", "/token/acme-re", loaded["reader"])
    assert st == 200 and p["credentials"]["key"] == key2
    PLANTED.append(key2)


def test_scopes_enforced_both_ways(app, loaded):
    assert capture(app, loaded["writer"], "openai", "acme-scope", {"api_key": OPENAI_KEY})[0] == 201
    # token:read only: cannot capture.
    st, _, doc = capture(app, loaded["reader"], "openai", "acme-x", {"api_key": OPENAI_KEY})
    assert st == 403 and doc["type"] == "urn:dromos:problem:forbidden"
    # Another tenant's pattern: neither read nor write.
    assert call(app, "GET", "/token/acme-scope", loaded["other"])[0] == 403
    assert capture(app, loaded["other"], "openai", "acme-y", {"api_key": OPENAI_KEY})[0] == 403
    # Its own pattern works.
    assert capture(app, loaded["other"], "openai", "globex-1", {"api_key": OPENAI_KEY})[0] == 201
    assert call(app, "GET", "/token/globex-1", loaded["other"])[0] == 200
    assert call(app, "GET", "/token/globex-1", loaded["reader"])[0] == 403
    # Listing shows only what the patterns cover.
    st, _, doc = call(app, "GET", "/connections", loaded["other"])
    assert st == 200
    assert {c["connection"] for c in doc["connections"]} == {"globex-1"}
    # No token, a malformed one, a revoked one.
    assert call(app, "GET", "/token/acme-scope")[0] == 401
    assert call(app, "GET", "/token/acme-scope", "dro_nope")[0] == 401
    tok = new_client(app, "shortlived", "token:read")
    assert call(app, "GET", "/token/acme-scope", tok)[0] == 200
    ctl(app, "client", "revoke", "shortlived")
    assert call(app, "GET", "/token/acme-scope", tok)[0] == 401
    # A token whose secret half is wrong but whose id is right.
    bad = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    assert call(app, "GET", "/token/acme-scope", bad)[0] == 401


def test_unknown_connection(app, loaded):
    st, _, doc = call(app, "GET", "/token/acme-none", loaded["reader"])
    assert st == 404 and doc["type"] == "urn:dromos:problem:not-found"


def test_sealed_value_moved_to_another_row_does_not_open(app, loaded):
    assert capture(app, loaded["writer"], "openai", "acme-victim", {"api_key": OPENAI_KEY})[0] == 201
    assert capture(app, loaded["writer"], "stripe", "acme-thief", {"secret_key": STRIPE_KEY})[0] == 201
    conn = psycopg2.connect(app.dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("UPDATE connections SET secrets = (SELECT secrets FROM connections "
                "WHERE id = 'acme-victim') WHERE id = 'acme-thief'")
    conn.close()
    st, hd, doc = call(app, "GET", "/token/acme-thief", loaded["reader"])
    assert st in (403, 500), doc
    assert hd.get("Content-Type") == "application/problem+json"
    assert OPENAI_KEY not in json.dumps(doc)
    # The victim still opens where it lives.
    st, _, p = call(app, "GET", "/token/acme-victim", loaded["reader"])
    assert st == 200 and p["credentials"]["key"] == OPENAI_KEY


def test_client_secret_write_only(app, loaded):
    doc = json.load(open(os.path.join(REPO, "etc", "providers", "github.json")))
    doc["client_id"] = "cid-123"
    doc["client_secret"] = "PLANTED-client-secret-77"
    PLANTED.append(doc["client_secret"])
    ctl(app, "provider", "update", "-", stdin=json.dumps(doc))
    r = ctl(app, "--json", "provider", "show", "github")
    shown = json.loads(r.stdout)
    assert "client_secret" not in shown and shown["has_client_secret"] is True
    conn = psycopg2.connect(app.dsn)
    cur = conn.cursor()
    cur.execute("SELECT config::text, client_secret FROM providers WHERE id = 'github'")
    cfg, sealed = cur.fetchone()
    conn.close()
    assert "PLANTED-client-secret" not in cfg
    assert bytes(sealed)[:4] == b"DRM\x01"


def test_invalid_provider_names_path(app, loaded):
    bad = dict(HEADERS_PROVIDER, id="badone")
    bad["apply"] = {"strategy": "headers", "headers": {"X-Key": "{nosuch}"}}
    r = ctl(app, "provider", "add", "-", stdin=json.dumps(bad), check=False)
    assert r.returncode == 1
    assert "$.apply.headers" in r.stderr
    bad = json.load(open(os.path.join(REPO, "etc", "providers", "github.json")))
    bad["id"] = "plainhttp"
    bad["token_url"] = "http://example.com/token"
    r = ctl(app, "provider", "add", "-", stdin=json.dumps(bad), check=False)
    assert r.returncode == 1 and "$.token_url" in r.stderr


def test_provider_in_use_cannot_be_removed(app, loaded):
    assert capture(app, loaded["writer"], "teamhdr", "acme-inuse",
                   {"team": "ops", "key": HDR_KEY})[0] == 201
    r = ctl(app, "provider", "remove", "teamhdr", check=False)
    assert r.returncode == 1


def test_errors_and_limits(app, loaded):
    tok = loaded["writer"]
    st, hd, doc = call(app, "POST", "/connections", tok, b"{not json")
    assert st == 400 and doc["type"] == "urn:dromos:problem:malformed-json"
    # Refused from the headers alone: the body is never read.
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(app.sock)
    s.sendall(b"POST /connections HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
              b"Content-Length: 66560\r\nAuthorization: Bearer " + tok.encode() + b"\r\n\r\n")
    head = s.recv(4096).decode()
    s.close()
    assert head.startswith("HTTP/1.1 413") and "urn:dromos:problem:too-large" in head
    # A chunked body over the limit is cut off as it arrives.
    s = socket.socket(socket.AF_UNIX)
    s.connect(app.sock)
    s.sendall(b"POST /connections HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(80):
            s.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    head = s.recv(4096).decode()
    s.close()
    assert head.startswith("HTTP/1.1 413"), head
    st, hd, doc = call(app, "PUT", "/token/acme-openai", tok)
    assert st == 405 and "GET" in hd.get("Allow", "")
    st, _, doc = call(app, "GET", "/nowhere", tok)
    assert st == 404
    st, _, doc = call(app, "POST", "/connections", tok, {"provider": "openai"},
                      headers={"Content-Type": "text/plain"})
    assert st == 415


def test_access_log_records_reads(app, loaded):
    st, hd, _ = call(app, "GET", "/token/acme-openai", loaded["reader"])
    assert st == 200
    rid = hd["X-Request-Id"]

    # Reads are logged in batches, within about 100 ms.
    def logged():
        conn = psycopg2.connect(app.dsn)
        try:
            cur = conn.cursor()
            cur.execute("SELECT client, outcome FROM access_log WHERE connection ="
                        " 'acme-openai' AND operation = 'token' AND request_id = %s",
                        (rid,))
            return cur.fetchall()
        finally:
            conn.close()
    rows = wait_for(logged, 5, "the access log line")
    assert len(rows) == 1 and rows[0][0] and rows[0][1] == "ok"


def test_connection_log(app, loaded):
    """dromosctl connection log: who did what to one connection, newest
    first, from access_log; also once the connection is gone."""
    assert capture(app, loaded["writer"], "openai", "acme-logged",
                   {"api_key": OPENAI_KEY})[0] == 201
    rids = []
    for _ in range(2):
        st, hd, _ = call(app, "GET", "/token/acme-logged", loaded["reader"])
        assert st == 200
        rids.append(hd["X-Request-Id"])
    assert call(app, "GET", "/token/acme-logged", "dro_nobody_x")[0] == 401

    def entries(n):
        doc = json.loads(ctl(app, "--json", "connection", "log", "acme-logged").stdout)
        return doc["entries"] if len(doc["entries"]) >= n else None
    rows = wait_for(lambda: entries(3), 5, "the reads in the access log")
    assert [r["operation"] for r in rows] == ["token", "token", "capture"]
    assert [r["request_id"] for r in rows[:2]] == rids[::-1]
    assert all(r["outcome"] == "ok" and r["client"] for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["at"])
               for r in rows)
    assert OPENAI_KEY not in json.dumps(rows)
    # The table: a header and one line per row.
    text = ctl(app, "connection", "log", "acme-logged").stdout.splitlines()
    assert text[0].split() == ["AT", "CLIENT", "OPERATION", "OUTCOME", "REQUEST_ID"]
    assert len(text) == 4 and rids[1] in text[1]
    # Deleted, its record stays.
    assert call(app, "DELETE", "/connections/acme-logged", loaded["writer"])[0] == 204
    ops = [r["operation"] for r in wait_for(lambda: entries(4), 5, "the delete logged")]
    assert ops == ["delete", "token", "token", "capture"]
    # Never a connection: nothing, not an error; a malformed id: 404.
    assert json.loads(ctl(app, "--json", "connection", "log", "acme-never").stdout) == {
        "connection": "acme-never", "limit": 100, "entries": []}
    r = ctl(app, "connection", "log", "a b", check=False)
    assert r.returncode == 1 and "Not found: no such connection" in r.stderr


def test_disconnect(app, loaded):
    assert capture(app, loaded["writer"], "openai", "acme-gone", {"api_key": OPENAI_KEY})[0] == 201
    assert call(app, "DELETE", "/connections/acme-gone", loaded["reader"])[0] == 403
    assert call(app, "DELETE", "/connections/acme-gone", loaded["writer"])[0] == 204
    assert call(app, "GET", "/token/acme-gone", loaded["reader"])[0] == 404


def test_ctl_tables(app, loaded):
    r = ctl(app, "connection", "list")
    assert "acme-openai" in r.stdout and "CONNECTION" in r.stdout
    r = ctl(app, "client", "list")
    assert "writer" in r.stdout and "SCOPES" in r.stdout
    r = ctl(app, "provider", "list")
    assert "openai" in r.stdout


def test_zz_no_spurious_warnings(app, loaded):
    """Every request above came over a unix socket on a new connection;
    none of them is worth a warning in the broker's log."""
    text = app.logtext()
    assert text.count("request server=") > 50
    warns = [l for l in text.splitlines() if "warn: httpd:" in l]
    assert warns == [], warns[:5]


def test_zz_no_planted_secret_in_logs(app, loaded):
    """Runs last in this module: every log the appliance wrote so far."""
    app.stop()
    texts = [app.logtext()]
    for path in (app.audit,):
        with open(path, errors="replace") as f:
            texts.append(f.read())
    for t in texts:
        for s in PLANTED:
            assert s not in t
    app.start()
